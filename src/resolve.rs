//! Every shape, state and length of a forward pass checked against the configuration, before
//! any data is touched: the dry run ([`RnnConfig::check`]) and the dimensions a pass runs with.

use crate::config::RnnConfig;
use crate::error::{Error, Result};
use crate::shape::{InputShapes, OutputShapes};

/// A forward pass's dimensions once every check has passed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Resolved {
    /// Padded sequence length.
    pub t: usize,
    /// Sequences in the batch (1 for unbatched input).
    pub b: usize,
    /// Whether the input had a batch dimension.
    pub batched: bool,
    /// Per-sequence lengths; `None` means every sequence runs all `t` steps.
    pub lengths: Option<Vec<usize>>,
    /// Shapes to return.
    pub shapes: OutputShapes,
}

impl RnnConfig {
    /// Dry run: checks the shapes of a forward pass against this configuration and returns the
    /// output shapes, without any data or GPU.
    ///
    /// ```
    /// use wgpu_rnn::{InputShapes, Kind, RnnConfig};
    /// let gru = RnnConfig::new(Kind::Gru, 3, 20).batch_first(true);
    /// // A (1600, 3) input is one unbatched sequence of 1600 steps, as in PyTorch.
    /// let shapes = gru.check(&InputShapes::new(&[1600, 3]))?;
    /// assert_eq!(shapes.output, vec![1600, 20]);
    /// # Ok::<(), wgpu_rnn::Error>(())
    /// ```
    ///
    /// # Errors
    /// Any shape, state or length error a forward pass would return.
    pub fn check(&self, shapes: &InputShapes<'_>) -> Result<OutputShapes> {
        resolve(self, shapes).map(|r| r.shapes)
    }
}

pub(crate) fn resolve(config: &RnnConfig, shapes: &InputShapes<'_>) -> Result<Resolved> {
    config.validate()?;
    let input = shapes.input;
    let (t, b, features) = match *input {
        [t, i] => (t, 1, i),
        [d0, d1, i] if config.batch_first => (d1, d0, i),
        [d0, d1, i] => (d0, d1, i),
        _ => {
            return Err(Error::InputRank {
                shape: input.to_vec(),
                input_size: config.input_size,
                batch_first: config.batch_first,
            })
        }
    };
    let batched = input.len() == 3;
    if features != config.input_size {
        return Err(Error::InputSize {
            expected: config.input_size,
            got: features,
            shape: input.to_vec(),
        });
    }

    check_batch_evidence(config, shapes, b, batched)?;

    let stacked = config.num_layers * config.num_directions();
    let state_shape = |width: usize| {
        if batched {
            vec![stacked, b, width]
        } else {
            vec![stacked, width]
        }
    };
    let leading: &[usize] = if batched { &[stacked, b] } else { &[stacked] };
    check_states(config, ["h0", "c0"], shapes.h0, shapes.c0, leading)?;
    let lengths = match shapes.lengths {
        None => None,
        Some(lengths) => {
            if lengths.len() != b {
                return Err(Error::LengthsCount {
                    expected: b,
                    got: lengths.len(),
                });
            }
            if let Some((index, &length)) =
                lengths.iter().enumerate().find(|(_, &l)| l == 0 || l > t)
            {
                return Err(Error::LengthOutOfRange {
                    index,
                    length,
                    max: t,
                });
            }
            Some(lengths.to_vec())
        }
    };

    // The kernels index with u32: every buffer we create must stay below 2^32 / 4 elements.
    let widest = config
        .input_size
        .max(config.output_width())
        .max(config.gate_rows());
    // At least one step's worth: with T = 0 the states (h_n, c_n) still hold B rows.
    let elements = ((t.max(1)) as u128 * b as u128).saturating_mul(widest as u128);
    if elements > (u32::MAX / 4) as u128 {
        return Err(Error::TooLarge {
            what: "the sequence batch",
            elements,
            limit: (u32::MAX / 4) as u64,
        });
    }

    let width = config.output_width();
    let output = match (batched, config.batch_first) {
        (false, _) => vec![t, width],
        (true, true) => vec![b, t, width],
        (true, false) => vec![t, b, width],
    };
    let c_n = config
        .kind
        .has_cell_state()
        .then(|| state_shape(config.hidden_size));
    Ok(Resolved {
        t,
        b,
        batched,
        lengths,
        shapes: OutputShapes {
            output,
            h_n: state_shape(config.state_width()),
            c_n,
        },
    })
}

/// Checks `h` (last dimension `H_out`) and `c` (`H`, LSTM only) against the state shape
/// `(*leading, width)`: for forward passes (`h0`, `c0`) and streams (`h`, `c`) alike.
pub(crate) fn check_states(
    config: &RnnConfig,
    names: [&'static str; 2],
    h: Option<&[usize]>,
    c: Option<&[usize]>,
    leading: &[usize],
) -> Result<()> {
    let expected = |width: usize| [leading, &[width]].concat();
    if let Some(h) = h {
        let expected = expected(config.state_width());
        if h != expected.as_slice() {
            let width_name = if config.proj_size > 0 {
                "proj_size"
            } else {
                "hidden_size"
            };
            return Err(Error::StateShape {
                arg: names[0],
                expected,
                got: h.to_vec(),
                width_name,
            });
        }
    }
    if let Some(c) = c {
        if !config.kind.has_cell_state() {
            return Err(Error::UnexpectedState {
                arg: names[1],
                kind: config.kind,
            });
        }
        let expected = expected(config.hidden_size);
        if c != expected.as_slice() {
            return Err(Error::StateShape {
                arg: names[1],
                expected,
                got: c.to_vec(),
                width_name: "hidden_size",
            });
        }
    }
    Ok(())
}

/// Catches the two layout mistakes that states or lengths reveal: a batch flattened into a
/// 2-D input, and batch and time axes swapped (the wrong `batch_first`).
fn check_batch_evidence(
    config: &RnnConfig,
    shapes: &InputShapes<'_>,
    b: usize,
    batched: bool,
) -> Result<()> {
    let input = shapes.input;
    // The batch size each argument implies, if it implies one.
    let evidence = [
        ("h0", shapes.h0.filter(|s| s.len() == 3).map(|s| s[1])),
        ("c0", shapes.c0.filter(|s| s.len() == 3).map(|s| s[1])),
        (
            "lengths",
            shapes
                .lengths
                .filter(|l| l.len() > 1 || batched)
                .map(|l| l.len()),
        ),
    ];
    for (arg, batch) in evidence {
        let Some(batch) = batch else { continue };
        // A state for one sequence (or none) is not a flattened batch: it falls through to
        // `StateShape`, which says to drop the state's batch dimension.
        if !batched && batch > 1 {
            return Err(Error::FlattenedBatch {
                shape: input.to_vec(),
                arg,
                batch,
                batch_first: config.batch_first,
            });
        }
        if batched && batch != b {
            let other = if config.batch_first {
                input[1]
            } else {
                input[0]
            };
            if batch == other && other != b {
                return Err(Error::BatchTimeSwapped {
                    shape: input.to_vec(),
                    arg,
                    batch,
                    batch_first: config.batch_first,
                });
            }
        }
    }
    Ok(())
}
