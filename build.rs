//! Compiles the WESL shaders under `shaders/` (WGSL with imports and conditional compilation)
//! into one WGSL module per kernel family and feature set, written to `$OUT_DIR/<name>.wgsl`
//! for `gpu::shaders` to include. The list below is every module the crate can build; the
//! GPU-less tests validate and translate each of them.

use wesl::{ManglerKind, Wesl};

/// (artifact name, root module, features). The features: `subgroups` selects the inner loops
/// and reductions with subgroup operations; `gemm`, `sequence` and `wavefront` tell the shared
/// inner loop (dot.wesl) which kernel supplies its rows and weights; `uniform_weights` the
/// software profile's W_hh in uniform buffers.
const MODULES: &[(&str, &str, &[&str])] = &[
    ("gemm_plain", "gemm", &["gemm"]),
    ("gemm_subgroups", "gemm", &["gemm", "subgroups"]),
    ("recurrent_plain", "recurrent", &[]),
    ("recurrent_subgroups", "recurrent", &["subgroups"]),
    ("sequence_plain", "sequence", &["sequence"]),
    ("sequence_subgroups", "sequence", &["sequence", "subgroups"]),
    (
        "sequence_plain_uniform",
        "sequence",
        &["sequence", "uniform_weights"],
    ),
    (
        "sequence_subgroups_uniform",
        "sequence",
        &["sequence", "subgroups", "uniform_weights"],
    ),
    (
        "sequence_registers_subgroups",
        "sequence_registers",
        &["sequence", "subgroups"],
    ),
    (
        "sequence_registers_subgroups_uniform",
        "sequence_registers",
        &["sequence", "subgroups", "uniform_weights"],
    ),
    ("wavefront_plain", "wavefront", &["wavefront"]),
    (
        "wavefront_subgroups",
        "wavefront",
        &["wavefront", "subgroups"],
    ),
    ("dense", "dense", &[]),
    ("swap", "swap", &[]),
];

/// Every feature a module may test: each is set, to true or false, for every module.
const FEATURES: &[&str] = &[
    "gemm",
    "sequence",
    "wavefront",
    "subgroups",
    "uniform_weights",
];

fn main() {
    println!("cargo::rerun-if-changed=shaders");
    println!("cargo::rerun-if-changed=build.rs");
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    for (name, root, features) in MODULES {
        let mut compiler = Wesl::new("shaders");
        // Names stay as written: the host sets override constants and entry points by name.
        compiler.set_mangler(ManglerKind::None);
        for feature in FEATURES {
            compiler.set_feature(feature, features.contains(feature));
        }
        let root = format!("package::{root}").parse().expect("a module path");
        let wgsl = match compiler.compile(&root) {
            Ok(result) => result.to_string(),
            Err(e) => panic!("shaders/{root}.wesl ({name}): {e}"),
        };
        std::fs::write(out.join(format!("{name}.wgsl")), wgsl).expect("OUT_DIR is writable");
    }
}
