//! The fixes and explanations that [`Error`](crate::Error)'s messages spell out, computed from
//! the shapes involved.

use crate::kind::Kind;

/// Shapes print as PyTorch prints them: `(1600, 3)`.
pub(crate) struct Shape<'a>(pub &'a [usize]);

impl std::fmt::Display for Shape<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("(")?;
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{d}")?;
        }
        if self.0.len() == 1 {
            f.write_str(",")?;
        }
        f.write_str(")")
    }
}

pub(crate) fn zero_meaning(field: &str) -> &'static str {
    match field {
        "input_size" => "input feature",
        "hidden_size" => "hidden unit",
        _ => "layer",
    }
}

pub(crate) fn proj_message(kind: Kind, proj_size: usize, hidden_size: usize) -> String {
    if kind != Kind::Lstm {
        format!(
            "proj_size={proj_size} was given for {}, but only LSTM supports proj_size; set proj_size=0",
            kind.torch_name()
        )
    } else {
        format!(
            "proj_size={proj_size} must be smaller than hidden_size={hidden_size} (PyTorch's rule); use a smaller proj_size or none"
        )
    }
}

/// The element count of a shape, or `None` where it overflows (shapes in errors may be absurd).
pub(crate) fn element_count(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d))
}

pub(crate) fn reshape_hint(shape: &[usize], input_size: usize) -> String {
    let total = element_count(shape).unwrap_or(0);
    if shape.len() == 2 && input_size > 0 && total.is_multiple_of(input_size) && total > 0 {
        format!(
            ". If the {total} values are really rows of {input_size} features, reshape to ({}, {input_size})",
            total / input_size
        )
    } else {
        String::new()
    }
}

pub(crate) fn rank_hint(shape: &[usize], input_size: usize) -> String {
    let total = element_count(shape).unwrap_or(0);
    match shape.len() {
        1 if input_size > 0 && total.is_multiple_of(input_size) => format!(
            ". If these {total} values are one sequence of {} steps, reshape to ({}, {input_size})",
            total / input_size,
            total / input_size
        ),
        n if n > 3 => ". Merge the extra leading dimensions into the batch dimension".to_string(),
        _ => String::new(),
    }
}

pub(crate) fn batched_layout(batch_first: bool, input_size: usize) -> String {
    if batch_first {
        format!("(batch, T, input_size={input_size}) (batch_first=true)")
    } else {
        format!("(T, batch, input_size={input_size}) (batch_first=false)")
    }
}

pub(crate) fn flattened_message(
    shape: &[usize],
    arg: &str,
    batch: usize,
    batch_first: bool,
) -> String {
    let (rows, width) = (shape[0], shape[1]);
    let mut m = format!(
        "`input` has shape {} and is read as one unbatched sequence (T={rows}, input_size={width}), \
         but `{arg}` is for a batch of {batch} sequences. A batch is 3-D: (T, B, input_size), or \
         (B, T, input_size) with batch_first=true",
        Shape(shape)
    );
    if batch > 0 && rows % batch == 0 {
        let steps = rows / batch;
        let (reshape, layout) = if batch_first {
            (
                format!("({batch}, {steps}, {width})"),
                "batch_first=true, as this model is",
            )
        } else {
            (
                format!("({steps}, {batch}, {width})"),
                "time-major, as this model is",
            )
        };
        m.push_str(&format!(
            ". {rows} = {batch} x {steps}: if the rows are {batch} sequences of {steps} steps flattened \
             together, reshape the input to {reshape} ({layout})"
        ));
    } else {
        m.push_str(&format!(
            "; {rows} rows do not split into {batch} equal sequences, so pass a 3-D input"
        ));
    }
    m
}

pub(crate) fn swapped_message(
    shape: &[usize],
    arg: &str,
    batch: usize,
    batch_first: bool,
) -> String {
    let (b, t) = if batch_first {
        (shape[0], shape[1])
    } else {
        (shape[1], shape[0])
    };
    format!(
        "`input` has shape {} and batch_first={batch_first}, so it is read as {b} sequences of {t} steps, \
         but `{arg}` is for a batch of {batch}: the batch and time axes look swapped. Set batch_first={} \
         (or transpose the input's first two axes)",
        Shape(shape),
        !batch_first
    )
}

pub(crate) fn state_hint(got: &[usize], expected: &[usize]) -> String {
    if got.len() == 3 && expected.len() == 3 && got[0] == expected[0] && got[2] == expected[2] {
        format!(
            ". The state was made for a batch of {} but this input holds {} sequences (a short last batch?): slice the state to the batch, or pass none to start from zeros",
            got[1], expected[1]
        )
    } else if got.len() != expected.len() {
        if expected.len() == 2 {
            ". The input is unbatched (2-D), so the state must be 2-D too: drop the batch dimension"
                .to_string()
        } else {
            ". The input is batched (3-D), so the state must be 3-D too: add the batch dimension"
                .to_string()
        }
    } else {
        String::new()
    }
}
