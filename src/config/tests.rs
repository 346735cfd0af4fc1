use super::*;

fn env(name: &str) -> Option<String> {
    match name {
        "OMNISTOCK_ADMIN_TOKEN" => Some("admin-token-value".into()),
        n if n.starts_with("OMNISTOCK_") => Some(format!("{n}-value")),
        _ => None,
    }
}

fn errs(src: &str) -> ConfigErrors {
    match parse_with(Path::new("conf/omnistock.toml"), src, &env) {
        Ok(c) => panic!("expected errors, got {c:?}"),
        Err(e) => e,
    }
}

#[test]
fn probe() {
    for src in [
        "node_id = \"n\"\nfoo = 1\n",
        "node_id = \"n\"\n[channels.a]\nkind = \"generic\"\nsells_from = [\"x\"]\nbogus = 2\n",
        "node_id = \"n\"\n[channels.a]\nkind = \"generic\"\nsells_from = [\"x\", 3]\n",
        "node_id = \"n\"\n[api]\nadmin_token = { env = 5 }\n",
        "node_id = \"n\"\n[api]\nadmin_token = { envv = \"X\" }\n",
        "node_id = \"n\"\n[api]\nadmin_token = 7\n",
        "node_id = \"n\"\nlisten = 8417\n",
        "node_id = \"n\nlisten = 8417\n",
        "node_id = \"n\"\nnode_id = \"m\"\n",
        "node_id = \"n\"\n[locations]\nx = 5\n",
    ] {
        println!("{}\n---", errs(src));
    }
    println!("{}", errs(""));
}
