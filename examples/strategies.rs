//! Which strategy is faster for one shape on this adapter: times `Strategy::PerStep` and
//! `Strategy::Sequence` in turns within one process (so both see the same machine load) and
//! prints what `Strategy::Auto` picks.
//!
//! `cargo run --release --example strategies -- KIND BATCH HIDDEN [SEQ] [INPUT] [ROUNDS]`
//! (KIND is lstm, gru, rnn-tanh or rnn-relu; SEQ and INPUT default to 64, ROUNDS to 6).
//!
//! Each round runs both strategies, in alternating order, for about the same time; the ratio
//! printed is the median over rounds of sequence / per-step.

use std::time::Instant;

use wgpu_rnn::{GpuContext, GpuRnn, Input, Kind, Rnn, RnnConfig, Strategy, Tensor};

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        eprintln!("usage: strategies KIND BATCH HIDDEN [SEQ] [INPUT] [ROUNDS]");
        std::process::exit(2);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let kind: Kind = args.first().ok_or("KIND is missing")?.parse()?;
    let number = |i: usize, default: Option<usize>| -> Result<usize, Box<dyn std::error::Error>> {
        match (args.get(i), default) {
            (Some(v), _) => Ok(v.parse()?),
            (None, Some(d)) => Ok(d),
            (None, None) => Err("BATCH and HIDDEN are needed".into()),
        }
    };
    let (batch, hidden) = (number(1, None)?, number(2, None)?);
    let (seq, input, rounds) = (
        number(3, Some(64))?,
        number(4, Some(64))?,
        number(5, Some(6))?.max(1),
    );

    // Deterministic weights and input in PyTorch's init range; their values do not matter here.
    let k = 1.0 / (hidden as f32).sqrt();
    let mut state = 1u32;
    let mut next = move || {
        state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (state >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0
    };
    let rnn = Rnn::from_fn(RnnConfig::new(kind, input, hidden), |_, shape| {
        (0..shape.iter().product::<usize>())
            .map(|_| k * next())
            .collect()
    })?;
    let x = Tensor::new(
        [seq, batch, input],
        (0..seq * batch * input).map(|_| next()).collect(),
    )?;
    let input = Input::new(&x);

    let ctx = GpuContext::new()?;
    let mut gpu = rnn.to_gpu(&ctx)?;
    println!("adapter: {}", ctx.adapter_name());
    println!(
        "{kind:?} B={batch} T={seq} I={} H={hidden}: Auto picks {:?}",
        x.shape()[2],
        gpu.strategy_for(batch)
    );
    // Forwards per turn: about a quarter of a second of the faster strategy (the first
    // forward of each builds its pipelines).
    let mut runs = 1;
    for strategy in [Strategy::PerStep, Strategy::Sequence] {
        let ms = time(&mut gpu, strategy, &input, 1)?;
        runs = runs.max((250.0 / ms).ceil() as usize);
    }
    let mut ms = [Vec::new(), Vec::new()];
    let mut ratios = Vec::new();
    for round in 0..rounds {
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for i in order {
            ms[i].push(time(
                &mut gpu,
                [Strategy::PerStep, Strategy::Sequence][i],
                &input,
                runs,
            )?);
        }
        ratios.push(ms[1][round] / ms[0][round]);
    }
    println!(
        "per-step {:.3} ms, sequence {:.3} ms (medians of {rounds} turns of {runs} forwards)",
        median(&mut ms[0]),
        median(&mut ms[1])
    );
    let per_round: Vec<String> = ratios.iter().map(|r| format!("{r:.2}")).collect();
    println!(
        "sequence / per-step: {:.2} (per round: {})",
        median(&mut ratios),
        per_round.join(" ")
    );
    Ok(())
}

/// Mean milliseconds per forward over `runs` forwards with `strategy`, after one warm-up.
fn time(
    gpu: &mut GpuRnn,
    strategy: Strategy,
    input: &Input<'_>,
    runs: usize,
) -> wgpu_rnn::Result<f64> {
    gpu.set_strategy(strategy)?;
    gpu.forward(input)?;
    let t = Instant::now();
    for _ in 0..runs {
        gpu.forward(input)?;
    }
    Ok(t.elapsed().as_secs_f64() * 1e3 / runs as f64)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    (values[(n - 1) / 2] + values[n / 2]) / 2.0
}
