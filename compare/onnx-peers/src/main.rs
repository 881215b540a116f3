//! Runs every ONNX fixture in `tests/fixtures/onnx/` through tract and candle-onnx and
//! prints a Markdown table of what each runtime does with it.
//!
//! Usage (from the repository root):
//!
//! ```sh
//! cargo run --release --manifest-path compare/onnx-peers/Cargo.toml [FIXTURE_DIR]
//! ```
//!
//! Each cell is one of `match`, `mismatch (max diff X)`, `load error: ...`,
//! `run error: ...` or `panic: ...`. Outputs are compared with a max abs diff of 1e-4.

use std::collections::{BTreeMap, HashMap};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use safetensors::{Dtype, SafeTensors};

const TOL: f32 = 1e-4;

/// One tensor from the io file.
#[derive(Clone)]
enum Data {
    F32(Vec<f32>),
    I32(Vec<i32>),
}

#[derive(Clone)]
struct Arr {
    shape: Vec<usize>,
    data: Data,
}

#[allow(dead_code)]
struct Case {
    name: String,
    onnx: PathBuf,
    /// Runtime graph inputs by name.
    inputs: BTreeMap<String, Arr>,
    /// Expected outputs by output name (without the `expected/` prefix).
    expected: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
    /// Graph output names, in graph order.
    graph_outputs: Vec<String>,
}

fn load_case(dir: &Path, name: &str) -> Result<Case, String> {
    let onnx = dir.join(format!("{name}.onnx"));
    let io = std::fs::read(dir.join(format!("{name}.io.safetensors"))).map_err(|e| e.to_string())?;
    let st = SafeTensors::deserialize(&io).map_err(|e| e.to_string())?;
    let mut inputs = BTreeMap::new();
    let mut expected = BTreeMap::new();
    for (key, view) in st.tensors() {
        let shape = view.shape().to_vec();
        let bytes = view.data();
        let data = match view.dtype() {
            Dtype::F32 => Data::F32(
                bytes.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect(),
            ),
            Dtype::I32 => Data::I32(
                bytes.chunks_exact(4).map(|c| i32::from_le_bytes(c.try_into().unwrap())).collect(),
            ),
            other => return Err(format!("{name}: unexpected dtype {other:?} for {key}")),
        };
        if let Some(out) = key.strip_prefix("expected/") {
            let Data::F32(v) = data else { return Err(format!("{key} is not F32")) };
            expected.insert(out.to_string(), (shape, v));
        } else {
            inputs.insert(key, Arr { shape, data });
        }
    }
    // Graph output names, via candle-onnx's protobuf decoder (plain prost decode).
    let proto = candle_onnx::read_file(&onnx).map_err(|e| format!("decode {name}.onnx: {e}"))?;
    let graph_outputs = proto
        .graph
        .as_ref()
        .map(|g| g.output.iter().map(|o| o.name.clone()).collect())
        .unwrap_or_default();
    Ok(Case { name: name.to_string(), onnx, inputs, expected, graph_outputs })
}

/// Outcome of one (runtime, case).
enum Outcome {
    Match,
    Mismatch(String),
    LoadError(String),
    RunError(String),
    Panic(String),
}

impl Outcome {
    fn kind(&self) -> &'static str {
        match self {
            Outcome::Match => "match",
            Outcome::Mismatch(_) => "mismatch",
            Outcome::LoadError(_) => "load error",
            Outcome::RunError(_) => "run error",
            Outcome::Panic(_) => "panic",
        }
    }
    fn cell(&self) -> String {
        match self {
            Outcome::Match => "match".into(),
            Outcome::Mismatch(s) => format!("**mismatch ({s})**"),
            Outcome::LoadError(s) => format!("load error: {s}"),
            Outcome::RunError(s) => format!("run error: {s}"),
            Outcome::Panic(s) => format!("panic: {s}"),
        }
    }
}

/// First line of a message, shortened and made safe for a Markdown table cell.
fn first_line(s: &str) -> String {
    let line = s.lines().next().unwrap_or("").trim();
    let mut out: String = line.chars().take(220).collect();
    if line.chars().count() > 220 {
        out.push('…');
    }
    out.replace('|', "\\|").replace('`', "'")
}

fn panic_message(p: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic payload>".into()
    }
}

/// Compares produced outputs (name -> (shape, values)) against the expected ones.
/// A mismatch lists the max abs diff of every output, so one can see which output is off.
fn compare(case: &Case, got: &HashMap<String, (Vec<usize>, Vec<f32>)>) -> Outcome {
    let mut worst = 0f32;
    let mut per_output = vec![];
    let mut shape_notes = vec![];
    for (name, (eshape, evals)) in &case.expected {
        let Some((gshape, gvals)) = got.get(name) else {
            return Outcome::RunError(first_line(&format!("output {name} not produced")));
        };
        if gshape != eshape {
            shape_notes.push(format!("{name} shape {gshape:?}, expected {eshape:?}"));
            continue;
        }
        let mut w = 0f32;
        for (a, b) in gvals.iter().zip(evals) {
            let d = (a - b).abs();
            if d.is_nan() || (!w.is_nan() && d > w) {
                w = d;
            }
        }
        per_output.push(format!("{name} {w:.1e}"));
        if w.is_nan() || (!worst.is_nan() && w > worst) {
            worst = w;
        }
    }
    if !shape_notes.is_empty() {
        return Outcome::Mismatch(first_line(&shape_notes.join("; ")));
    }
    if worst.is_nan() || worst > TOL {
        Outcome::Mismatch(format!("max diff {worst:.3e}; {}", per_output.join(", ")))
    } else {
        Outcome::Match
    }
}

// ---------------------------------------------------------------- tract

mod tract_run {
    use super::*;
    use tract_onnx::prelude::*;

    /// Which preparation path succeeded.
    pub enum Path {
        Optimized,
        /// `into_optimized()` failed; ran the un-optimized typed model (`into_typed().into_runnable()`).
        Typed(String),
        /// Typing failed too; ran the inference model directly (`InferenceModel::into_runnable()`).
        Inference(String),
    }

    pub fn run(case: &Case) -> (Outcome, Option<Path>) {
        let mut model = match tract_onnx::onnx().model_for_path(&case.onnx) {
            Ok(m) => m,
            Err(e) => return (Outcome::LoadError(first_line(&format!("{e:#}"))), None),
        };
        // Input facts from the io file.
        let input_outlets = model.input_outlets().unwrap().to_vec();
        let mut values: TVec<TValue> = tvec![];
        for (ix, outlet) in input_outlets.iter().enumerate() {
            let name = model.node(outlet.node).name.clone();
            let Some(arr) = case.inputs.get(&name) else {
                return (
                    Outcome::LoadError(first_line(&format!("no io-file tensor for graph input {name}"))),
                    None,
                );
            };
            let (fact, tensor) = match &arr.data {
                Data::F32(v) => (
                    InferenceFact::dt_shape(f32::datum_type(), &arr.shape),
                    Tensor::from_shape::<f32>(&arr.shape, v),
                ),
                Data::I32(v) => (
                    InferenceFact::dt_shape(i32::datum_type(), &arr.shape),
                    Tensor::from_shape::<i32>(&arr.shape, v),
                ),
            };
            if let Err(e) = model.set_input_fact(ix, fact) {
                return (Outcome::LoadError(first_line(&format!("set_input_fact({name}): {e:#}"))), None);
            }
            match tensor {
                Ok(t) => values.push(t.into_tvalue()),
                Err(e) => return (Outcome::LoadError(first_line(&format!("{e:#}"))), None),
            }
        }
        // Output names in graph order: tract keeps the graph output order.
        let n_out = model.output_outlets().unwrap().len();

        let (path, result) = match model.clone().into_optimized().and_then(|m| m.into_runnable()) {
            Ok(plan) => (Path::Optimized, plan.run(values)),
            Err(e_opt) => {
                let opt_msg = first_line(&format!("{e_opt:#}"));
                match model.clone().into_typed().and_then(|m| m.into_runnable()) {
                    Ok(plan) => (Path::Typed(opt_msg), plan.run(values)),
                    Err(e_typed) => match model.into_runnable() {
                        Ok(plan) => (
                            Path::Inference(first_line(&format!("{e_typed:#}"))),
                            plan.run(values),
                        ),
                        // Report the into_optimized() error: it is the first failure.
                        Err(_) => {
                            return (
                                Outcome::LoadError(format!("into_optimized: {opt_msg}")),
                                None,
                            )
                        }
                    },
                }
            }
        };
        let outputs = match result {
            Ok(o) => o,
            Err(e) => return (Outcome::RunError(first_line(&format!("{e:#}"))), Some(path)),
        };
        if outputs.len() != n_out || n_out != case.graph_outputs.len() {
            return (
                Outcome::RunError(format!(
                    "{} outputs for {} graph outputs",
                    outputs.len(),
                    case.graph_outputs.len()
                )),
                Some(path),
            );
        }
        let mut got = HashMap::new();
        for (name, t) in case.graph_outputs.iter().zip(outputs.iter()) {
            let t = match t.cast_to::<f32>() {
                Ok(t) => t,
                Err(e) => return (Outcome::RunError(first_line(&format!("{e:#}"))), Some(path)),
            };
            let view = t.to_plain_array_view::<f32>().unwrap();
            got.insert(name.clone(), (view.shape().to_vec(), view.iter().copied().collect()));
        }
        (compare(case, &got), Some(path))
    }
}

// ---------------------------------------------------------------- candle-onnx

mod candle_run {
    use super::*;
    use candle_core::{DType, Device, Tensor};

    /// Runs the case with integer inputs (sequence_lens) converted to `int_dtype`.
    fn attempt(case: &Case, int_dtype: DType) -> Outcome {
        let model = match candle_onnx::read_file(&case.onnx) {
            Ok(m) => m,
            Err(e) => return Outcome::LoadError(first_line(&format!("{e}"))),
        };
        let mut inputs = HashMap::new();
        for (name, arr) in &case.inputs {
            let t = match &arr.data {
                Data::F32(v) => Tensor::from_vec(v.clone(), arr.shape.clone(), &Device::Cpu),
                Data::I32(v) => {
                    let r = match int_dtype {
                        DType::I64 => Tensor::from_vec(
                            v.iter().map(|&x| x as i64).collect::<Vec<_>>(),
                            arr.shape.clone(),
                            &Device::Cpu,
                        ),
                        DType::U32 => Tensor::from_vec(
                            v.iter().map(|&x| x as u32).collect::<Vec<_>>(),
                            arr.shape.clone(),
                            &Device::Cpu,
                        ),
                        _ => Tensor::from_vec(v.clone(), arr.shape.clone(), &Device::Cpu),
                    };
                    r
                }
            };
            match t {
                Ok(t) => {
                    inputs.insert(name.clone(), t);
                }
                Err(e) => return Outcome::LoadError(first_line(&format!("{e}"))),
            }
        }
        let outs = match candle_onnx::simple_eval(&model, inputs) {
            Ok(o) => o,
            Err(e) => return Outcome::RunError(first_line(&format!("{e}"))),
        };
        let mut got = HashMap::new();
        for (name, t) in outs {
            let dims = t.dims().to_vec();
            match t.to_dtype(DType::F32).and_then(|t| t.flatten_all()).and_then(|t| t.to_vec1::<f32>())
            {
                Ok(v) => {
                    got.insert(name, (dims, v));
                }
                Err(e) => return Outcome::RunError(first_line(&format!("reading output {name}: {e}"))),
            }
        }
        compare(case, &got)
    }

    /// Returns the outcome and, for cases with an integer input, the dtype it was passed as.
    pub fn run(case: &Case) -> (Outcome, Option<&'static str>) {
        let has_int = case.inputs.values().any(|a| matches!(a.data, Data::I32(_)));
        if !has_int {
            return (guarded(|| attempt(case, DType::F32)), None);
        }
        // candle's LSTM/RNN read sequence_lens with to_vec1::<i64>(), so try I64 first,
        // then U32 and the declared I32; keep the first attempt that does not error.
        let mut first = None;
        for (dt, label) in [(DType::I64, "I64"), (DType::U32, "U32"), (DType::I32, "I32")] {
            let o = guarded(|| attempt(case, dt));
            if matches!(o, Outcome::Match | Outcome::Mismatch(_)) {
                return (o, Some(label));
            }
            if first.is_none() {
                first = Some(o);
            }
        }
        (first.unwrap(), Some("I64 (U32, I32 also tried)"))
    }
}

fn guarded(f: impl FnOnce() -> Outcome) -> Outcome {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(o) => o,
        Err(p) => Outcome::Panic(first_line(&panic_message(&p))),
    }
}

fn lock_versions() -> Vec<(String, String)> {
    let lock = include_str!("../Cargo.lock");
    let wanted = [
        "tract-onnx",
        "tract-core",
        "tract-hir",
        "tract-linalg",
        "candle-onnx",
        "candle-core",
        "candle-nn",
        "prost",
        "safetensors",
    ];
    let mut out = vec![];
    let mut name = None;
    for line in lock.lines() {
        if let Some(n) = line.strip_prefix("name = \"") {
            name = Some(n.trim_end_matches('"').to_string());
        } else if let Some(v) = line.strip_prefix("version = \"") {
            if let Some(n) = name.take() {
                if wanted.contains(&n.as_str()) {
                    out.push((n, v.trim_end_matches('"').to_string()));
                }
            }
        }
    }
    out
}

fn main() {
    let dir = std::env::args().nth(1).map(PathBuf::from).unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/onnx")
    });
    // Keep panics quiet: they are reported in the table.
    std::panic::set_hook(Box::new(|_| {}));

    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.strip_suffix(".onnx")).map(String::from))
        .collect();
    names.sort();

    let mut rows = vec![];
    let mut counts: BTreeMap<&str, BTreeMap<&'static str, usize>> = BTreeMap::new();
    let mut tract_notes = vec![];
    let mut candle_int = BTreeMap::new();
    for name in &names {
        let case = match load_case(&dir, name) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("skipping {name}: {e}");
                continue;
            }
        };
        let t0 = std::time::Instant::now();
        let (tract, tract_path) = match catch_unwind(AssertUnwindSafe(|| tract_run::run(&case))) {
            Ok(r) => r,
            Err(p) => (Outcome::Panic(first_line(&panic_message(&p))), None),
        };
        let t1 = t0.elapsed();
        let (candle, int_dt) = candle_run::run(&case);
        eprintln!(
            "{name}: tract {} ({:.2}s), candle {} ({:.2}s)",
            tract.kind(),
            t1.as_secs_f32(),
            candle.kind(),
            (t0.elapsed() - t1).as_secs_f32()
        );
        let mut tract_cell = tract.cell();
        match &tract_path {
            Some(tract_run::Path::Typed(e)) => {
                tract_cell.push_str(" [unoptimized typed plan]");
                tract_notes.push(format!("- `{name}`: `into_optimized()` failed (`{e}`); ran `into_typed()?.into_runnable()`."));
            }
            Some(tract_run::Path::Inference(e)) => {
                tract_cell.push_str(" [inference-model plan]");
                tract_notes.push(format!("- `{name}`: `into_optimized()` and `into_typed()` failed (`{e}`); ran `InferenceModel::into_runnable()`."));
            }
            _ => {}
        }
        if let Some(dt) = int_dt {
            candle_int.insert(name.clone(), (dt, candle.kind()));
        }
        *counts.entry("tract").or_default().entry(tract.kind()).or_default() += 1;
        *counts.entry("candle-onnx").or_default().entry(candle.kind()).or_default() += 1;
        rows.push((name.clone(), tract_cell, candle.cell()));
    }

    println!("## Results ({} cases, tolerance: max abs diff <= {TOL:e})\n", rows.len());
    println!("### Summary\n");
    println!("| runtime | match | mismatch | load error | run error | panic |");
    println!("|---|---|---|---|---|---|");
    for rt in ["tract", "candle-onnx"] {
        let c = counts.get(rt).cloned().unwrap_or_default();
        let g = |k: &str| c.get(k).copied().unwrap_or(0);
        println!(
            "| {rt} | {} | {} | {} | {} | {} |",
            g("match"),
            g("mismatch"),
            g("load error"),
            g("run error"),
            g("panic")
        );
    }
    println!("\n### Per case\n");
    println!("| case | tract | candle-onnx |");
    println!("|---|---|---|");
    for (n, t, c) in &rows {
        println!("| `{n}` | {t} | {c} |");
    }
    println!("\n### tract preparation path\n");
    if tract_notes.is_empty() {
        println!("Every case that loaded was run through `into_optimized()?.into_runnable()`; no fallback was needed.");
    } else {
        println!("All other cases that loaded ran through `into_optimized()?.into_runnable()`.\n");
        for n in &tract_notes {
            println!("{n}");
        }
    }
    println!("\n### candle-onnx and sequence_lens\n");
    println!("Cases with an integer runtime input (sequence_lens, I32 in the io file). It is passed as I64 first, then U32, then I32; the first attempt that runs is kept, otherwise the I64 attempt's error is reported.\n");
    for (n, (dt, kind)) in &candle_int {
        println!("- `{n}`: {kind}, sequence_lens as {dt}");
    }
    println!("\n### Crate versions (from compare/onnx-peers/Cargo.lock)\n");
    for (n, v) in lock_versions() {
        println!("- {n} {v}");
    }
}
