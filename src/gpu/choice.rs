//! Which kernels a pass runs, as pure functions of the model's configuration, the batch and a
//! [`DeviceProfile`]: what `Strategy::Auto` picks, how the sequence kernel is cut, and the
//! printable plan (`cargo run --example bench -- --plan gpu`).

use super::pack::UNIFORM_BINDING_VEC4S;
use super::plan::{
    step_weight_bytes, wavefront_reason, AdapterKind, DeviceProfile, StepShape, Strategy, MAX_ROWS,
};
use super::sequence::{SequenceCut, SequenceLayer};
use crate::config::RnnConfig;
use crate::Precision;

/// How the sequence kernel cuts a pass over `batch` sequences of `config` on `profile`'s
/// device ([`SequenceCut::new`]), or `None` where the layer does not fit it. h stays in
/// registers only where the register kernel can run: it needs subgroups exactly as wide as
/// the SIMD vectors the cut sizes its workgroup to, which only a software adapter that
/// reports one subgroup size promises. W_hh comes from uniform buffers only in f32
/// (`weights`): the f16 modules read storage (shaders/half.wesl).
pub(crate) fn sequence_cut(
    config: &RnnConfig,
    batch: usize,
    profile: DeviceProfile,
    weights: Precision,
) -> Option<SequenceCut> {
    let layer = SequenceLayer::of(config);
    let mut cut = SequenceCut::new(layer, batch, profile.adapter)?;
    if profile.loop_limit && !profile.is_software() {
        // The GPU's cut on a device with llvmpipe's loop limit (a software adapter planning
        // as a GPU): its chunks must still fit the budget, or results go silently wrong.
        cut = cut.within_loop_budget(layer)?;
    }
    cut.shape.registers &= profile.subgroups && profile.fixed_subgroup_size;
    // The software profile reads W_hh from uniform buffers where it fits them: lavapipe
    // gathers a uniform load across its lanes at once but loads storage one lane at a time
    // (LSTM B=8 H=128 T=64: about 2 ms of 10).
    cut.shape.uniform_weights =
        profile.is_software() && weights == Precision::F32 && uniform_weights_fit(config);
    Some(cut)
}

/// Whether every direction's unit-packed W_hh fits the four uniform parts of
/// `pack::uniform_columns`: a quarter of D x ceil(H_out / 4) x H x 4 vec4s each.
pub(crate) fn uniform_weights_fit(config: &RnnConfig) -> bool {
    let part_vec4s =
        config.num_directions() * config.state_width().div_ceil(4) * config.hidden_size;
    part_vec4s <= UNIFORM_BINDING_VEC4S
}

/// The strategy a pass over `batch` sequences runs: `strategy` itself, or for
/// [`Strategy::Auto`] the choice for `profile`'s device.
pub(crate) fn resolve(
    config: &RnnConfig,
    batch: usize,
    strategy: Strategy,
    profile: DeviceProfile,
) -> Strategy {
    if strategy != Strategy::Auto {
        return strategy;
    }
    // Where a step runs as its own dispatch, a GPU runs a small batch's step in less time
    // than a dependent dispatch takes, so pipelining the layers saves most of the layers'
    // dispatches. On CPU adapters the step's work is what costs (BENCHMARKS.md, "Layers
    // as a wavefront"): there the input projection of layers 1 and up, which the
    // wavefront moves into the step, runs fastest as the GEMM over the whole chunk.
    let per_step = if !profile.is_software()
        && batch <= MAX_ROWS as usize
        && wavefront_reason(config).is_none()
    {
        Strategy::Wavefront
    } else {
        Strategy::PerStep
    };
    if sequence_cut(config, batch, profile, Precision::F32).is_none() {
        return per_step;
    }
    // The sequence kernel saves a dispatch per step while one workgroup (one compute unit)
    // can still do a step's work: narrow layers only. On GPUs, where a dependent dispatch
    // costs several microseconds, H <= 128 is a guess from the design, to be measured on a
    // lent GPU. On software adapters, where a workgroup's start and barriers cost more than
    // its loads, it wins up to H = 256 at every batch measured (lavapipe, LSTM T=64, ms, the
    // sequence kernel against the per-step one: B=1 H=128 8.2 against 14.4, B=8 H=128 15.9
    // against 55.8, B=32 H=64 17.5 against 74.1, B=8 H=256 54.3 against 121.5, B=1 H=256 24.7
    // against 28.9).
    let sequence = match profile.adapter {
        AdapterKind::Cpu { .. } => config.hidden_size <= 256,
        AdapterKind::Gpu => config.hidden_size <= 128,
    };
    if sequence {
        Strategy::Sequence
    } else {
        per_step
    }
}

/// The plan of a pass over `seq_len` steps of `batch` sequences of `config` with `strategy`
/// on `profile`'s device, without running anything: one line per layer and direction of
/// `key=value` pairs, at least `plan_kernel=`, `dispatches_per_step=`,
/// `workgroups_per_step=` and `weight_bytes_per_step=` (what that direction's recurrence
/// reads of its weights per step, counting a matrix once per workgroup that streams it).
/// A strategy the model cannot take gives one line, `plan_kernel=unsupported reason=...`.
/// `weights`: how the model's weight matrices are stored ([`Rnn::to_gpu_with`](crate::Rnn::to_gpu_with)).
pub fn plan_lines(
    config: &RnnConfig,
    batch: usize,
    seq_len: usize,
    strategy: Strategy,
    profile: DeviceProfile,
    weights: Precision,
) -> Vec<String> {
    let strategy = resolve(config, batch, strategy, profile);
    let d = config.num_directions();
    let (h, k4) = (config.hidden_size, config.state_width().div_ceil(4));
    // Bytes of one vec4 of weights as stored.
    let vec4 = 4 * weights.bytes_per_weight();
    let t = seq_len.max(1);
    let per_direction: Result<Vec<String>, String> = match strategy {
        Strategy::Sequence => match sequence_cut(config, batch, profile, weights) {
            None => Err("the layer does not fit the sequence kernel's workgroup memory".into()),
            Some(cut) => {
                let blocks = batch.div_ceil(cut.shape.rows as usize).max(1);
                let steps = t.min(cut.max_steps);
                // Every block's workgroup streams W_hh, the gate columns its kind has.
                Ok(vec![format!(
                    "plan_kernel=sequence dispatches_per_step={:.4} workgroups_per_step={blocks} \
                     weight_bytes_per_step={} rows={} workgroup={} registers={} uniform_weights={} steps_per_dispatch={steps}",
                    1.0 / steps as f64,
                    blocks * h * k4 * vec4 * config.kind.gate_count(),
                    cut.shape.rows,
                    cut.shape.workgroup,
                    cut.shape.registers,
                    cut.shape.uniform_weights,
                )])
            }
        },
        Strategy::Wavefront => match wavefront_reason(config) {
            Some(reason) => Err(reason.into()),
            None => {
                let rows = StepShape::new(config, batch, profile).rows as usize;
                let blocks = batch.div_ceil(rows).max(1);
                let layers = config.num_layers;
                Ok(vec![format!(
                    "plan_kernel=wavefront dispatches_per_step={:.4} workgroups_per_step={} \
                     weight_bytes_per_step={} rows={rows}",
                    (t + layers - 1) as f64 / (t * layers) as f64,
                    h.div_ceil(64) * blocks,
                    blocks * h * k4 * vec4 * config.kind.gate_count(),
                )])
            }
        },
        _ => {
            let shape = StepShape::new(config, batch, profile);
            let [x, y, _] = shape.grid(config, batch);
            let (mut dispatches, mut workgroups) = (1, u64::from(x * y));
            if config.proj_size > 0 {
                dispatches += 1;
                workgroups += u64::from(config.proj_size.div_ceil(64) as u32 * y);
            }
            Ok(vec![format!(
                "plan_kernel=per-step dispatches_per_step={dispatches} workgroups_per_step={workgroups} \
                 weight_bytes_per_step={} units={} rows={} workgroup={} reduce={}",
                step_weight_bytes(config, weights) / d as u64,
                shape.units,
                shape.rows,
                shape.workgroup,
                if profile.subgroups { "subgroup" } else { "workgroup" },
            )])
        }
    };
    let adapter = match profile.adapter {
        AdapterKind::Gpu => "gpu",
        AdapterKind::Cpu { .. } => "software",
    };
    // The input projection of every layer and direction: x in workgroup-memory tiles on GPUs.
    let projection = if profile.tiles_projection() {
        "tiled"
    } else {
        "registers"
    };
    match per_direction {
        Err(reason) => vec![format!(
            "plan_kernel=unsupported strategy={strategy:?} reason=\"{reason}\""
        )],
        Ok(line) => (0..config.num_layers)
            .flat_map(|l| (0..d).map(move |dir| (l, dir)))
            .map(|(l, dir)| {
                format!(
                    "layer={l} direction={dir} adapter={adapter} strategy={strategy:?} batch={batch} {} projection={projection} weights={weights}",
                    line[0]
                )
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Kind;

    const GPU: DeviceProfile = DeviceProfile::GENERIC_GPU;
    const SOFT: DeviceProfile = DeviceProfile::SOFTWARE;

    /// The plan over T = 64.
    fn plan(
        config: &RnnConfig,
        batch: usize,
        strategy: Strategy,
        profile: DeviceProfile,
        weights: Precision,
    ) -> Vec<String> {
        plan_lines(config, batch, 64, strategy, profile, weights)
    }

    fn value<'a>(line: &'a str, key: &str) -> &'a str {
        line.split(' ')
            .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("no {key}= in {line}"))
    }

    #[test]
    fn a_wide_gru_at_batch_one_plans_the_split_k_step_kernel() {
        let config = RnnConfig::new(Kind::Gru, 64, 1024);
        let lines = plan(&config, 1, Strategy::Auto, GPU, Precision::F32);
        assert_eq!(lines.len(), 1);
        let line = &lines[0];
        assert_eq!(value(line, "plan_kernel"), "per-step", "{line}");
        assert_eq!(value(line, "dispatches_per_step"), "1");
        assert!(value(line, "workgroups_per_step").parse::<u64>().unwrap() >= 128);
        assert_eq!(
            value(line, "weight_bytes_per_step"),
            (12u64 << 20).to_string()
        );
        assert_eq!(value(line, "projection"), "tiled");
    }

    #[test]
    fn narrow_layers_plan_the_sequence_kernel_with_blocks_of_up_to_eight() {
        let config = RnnConfig::new(Kind::Lstm, 64, 128);
        let lines = plan(&config, 8, Strategy::Auto, GPU, Precision::F32);
        let line = &lines[0];
        assert_eq!(value(line, "plan_kernel"), "sequence", "{line}");
        assert_eq!(value(line, "rows"), "8");
        let software = plan(&config, 8, Strategy::Auto, SOFT, Precision::F32);
        assert_eq!(value(&software[0], "projection"), "registers");
        assert_eq!(value(line, "workgroups_per_step"), "1");
        // One block streams W_hh once a step: 16 H^2 bytes for an LSTM, 12 H^2 for a GRU.
        assert_eq!(
            value(line, "weight_bytes_per_step"),
            (16 * 128 * 128).to_string()
        );
        let gru = RnnConfig::new(Kind::Gru, 64, 128);
        let lines = plan(&gru, 8, Strategy::Auto, GPU, Precision::F32);
        assert_eq!(
            value(&lines[0], "weight_bytes_per_step"),
            (12 * 128 * 128).to_string()
        );
    }

    #[test]
    fn f16_weights_halve_the_bytes_of_every_strategy_and_never_use_uniform_buffers() {
        let gru = RnnConfig::new(Kind::Gru, 64, 1024);
        let stack = RnnConfig::new(Kind::Gru, 64, 256).num_layers(2);
        let narrow = RnnConfig::new(Kind::Lstm, 8, 64);
        for (config, strategy, profile) in [
            (&gru, Strategy::PerStep, DeviceProfile::GENERIC_GPU),
            (&stack, Strategy::Wavefront, DeviceProfile::GENERIC_GPU),
            (&narrow, Strategy::Sequence, DeviceProfile::GENERIC_GPU),
            (&narrow, Strategy::Sequence, DeviceProfile::SOFTWARE),
        ] {
            let bytes = |weights| {
                let lines = plan(config, 1, strategy, profile, weights);
                let line = &lines[0];
                assert_eq!(value(line, "weights"), weights.to_string(), "{line}");
                if let Some(uniform) = line
                    .split(' ')
                    .find_map(|kv| kv.strip_prefix("uniform_weights="))
                {
                    assert!(weights == Precision::F32 || uniform == "false", "{line}");
                }
                value(line, "weight_bytes_per_step").parse::<u64>().unwrap()
            };
            assert_eq!(
                bytes(Precision::F16) * 2,
                bytes(Precision::F32),
                "{strategy:?}"
            );
        }
        let line = &plan(&gru, 1, Strategy::PerStep, GPU, Precision::F16)[0];
        assert_eq!(
            value(line, "weight_bytes_per_step"),
            (6 * 1024 * 1024).to_string()
        );
    }

    #[test]
    fn every_layer_and_direction_has_a_line_and_refusals_say_why() {
        let config = RnnConfig::new(Kind::Lstm, 64, 256)
            .num_layers(2)
            .bidirectional(true);
        let lines = plan(&config, 4, Strategy::Auto, GPU, Precision::F32);
        assert_eq!(lines.len(), 4);
        let wave = plan(&config, 4, Strategy::Wavefront, GPU, Precision::F32);
        assert_eq!(wave.len(), 1);
        assert_eq!(value(&wave[0], "plan_kernel"), "unsupported");
    }
}
