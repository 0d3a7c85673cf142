//! Component composition for tests: `wac plug` as a function. The `byoc` CLI's tests
//! include this file by path (`host/cli/tests/cli/main.rs`): a helper library both test
//! crates depended on would make a dependency cycle with `byoc-cli`.

/// `plug`'s exports plugged into `socket`'s matching imports (both component binaries):
/// the composed component.
pub fn plug(socket: &[u8], plug: &[u8]) -> Vec<u8> {
    use wac_graph::types::Package;
    use wac_graph::{CompositionGraph, EncodeOptions};
    let mut graph = CompositionGraph::new();
    let socket = Package::from_bytes("test:socket", None, socket.to_vec(), graph.types_mut())
        .expect("socket");
    let socket = graph.register_package(socket).expect("register socket");
    let plug =
        Package::from_bytes("test:plug", None, plug.to_vec(), graph.types_mut()).expect("plug");
    let plug = graph.register_package(plug).expect("register plug");
    wac_graph::plug(&mut graph, vec![plug], socket).expect("plug");
    graph.encode(EncodeOptions::default()).expect("encode")
}
