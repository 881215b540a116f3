//! Compiles the WESL shaders under `shaders/` (WGSL with imports and conditional compilation)
//! into one WGSL module per kernel family and feature set, written to `$OUT_DIR/<name>.wgsl`
//! for `gpu::shaders` to include. The list below is every module the crate can build; the
//! GPU-less tests validate and translate each of them.

use wesl::{ManglerKind, Wesl};

/// (artifact name, root module, features). The features: `subgroups` selects the inner loops
/// and reductions with subgroup operations; `gemm`, `sequence` and `wavefront` tell the shared
/// inner loop (dot.wesl) which kernel supplies its rows and weights; `uniform_weights` the
/// software profile's W_hh in uniform buffers. Each module that reads weight matrices from
/// storage is built a second time with `f16_weights` ([`F16_MODULES`]).
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
    ("pack", "pack", &[]),
];

/// The modules built again with `f16_weights` (half.wesl: weight matrices stored as halves):
/// every one that reads weight matrices, except from uniform buffers. Each is built twice:
/// `<name>_f16` widens halves with `unpack2x16float` (`half_builtin`), `<name>_f16_bits` with
/// integer operations, for devices without wgpu's `DownlevelFlags::SHADER_F16_IN_F32`.
const F16_MODULES: &[&str] = &[
    "gemm_plain",
    "gemm_subgroups",
    "recurrent_plain",
    "recurrent_subgroups",
    "sequence_plain",
    "sequence_subgroups",
    "sequence_registers_subgroups",
    "wavefront_plain",
    "wavefront_subgroups",
    "dense",
];

/// Every feature a module may test: each is set, to true or false, for every module.
const FEATURES: &[&str] = &[
    "gemm",
    "sequence",
    "wavefront",
    "subgroups",
    "uniform_weights",
    "f16_weights",
    "half_builtin",
];

fn main() {
    println!("cargo::rerun-if-changed=shaders");
    println!("cargo::rerun-if-changed=build.rs");
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let f16 = F16_MODULES.iter().flat_map(|&f16_name| {
        let (_, root, features) = MODULES
            .iter()
            .find(|(name, _, _)| *name == f16_name)
            .expect("F16_MODULES names modules of MODULES");
        let widen = |suffix: &str, extra: &[&'static str]| {
            let mut features = features.to_vec();
            features.push("f16_weights");
            features.extend(extra);
            (format!("{f16_name}_{suffix}"), *root, features)
        };
        [widen("f16", &["half_builtin"]), widen("f16_bits", &[])]
    });
    let all = MODULES
        .iter()
        .map(|(name, root, features)| (name.to_string(), *root, features.to_vec()))
        .chain(f16);
    for (name, root, features) in all {
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
