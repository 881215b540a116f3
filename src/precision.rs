//! How weight matrices are stored on the GPU: f32, or IEEE f16 with f32 arithmetic and state
//! ([`Precision`]), and the same rounding for the CPU reference.

use crate::error::{Error, Result};

/// How a model's weight matrices are stored on the GPU: `W_ih`, `W_hh`, `W_hr` and the
/// weights of [`Linear`](crate::Linear) layers. Biases, states and all arithmetic stay f32.
///
/// [`Precision::F16`] halves the bytes a step streams and the model's device memory, and
/// works on every adapter: halves are stored two to a `u32` and widened with WGSL's core
/// `unpack2x16float` (or, where wgpu does not grant it, with integer operations), so no
/// `shader-f16` feature is needed. Each weight is rounded to the
/// nearest f16 (ties to even) once, at upload; [`Rnn::with_precision`](crate::Rnn::with_precision)
/// gives the CPU reference the same rounding. A weight beyond f16's range (|w| > 65504) is
/// refused with [`Error::WeightRange`] rather than stored as infinity.
///
/// A BF16 checkpoint (widened to f32 on load) is stored as f16 when every value is in f16's
/// range, else refused as above. Its values in f16's normal range (magnitudes from 6.1e-5 to
/// 65504) are stored exactly, since bf16's 8 significant bits fit in f16's 11; smaller ones
/// lose bits as f16 subnormals, and below 3e-8 become 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Precision {
    /// 32-bit floats: the weights exactly as given.
    #[default]
    F32,
    /// IEEE 754 half precision (binary16): 11 significant bits, magnitudes up to 65504.
    F16,
}

impl Precision {
    /// Bytes of one stored weight: 4 or 2.
    pub fn bytes_per_weight(self) -> usize {
        match self {
            Precision::F32 => 4,
            Precision::F16 => 2,
        }
    }

    /// `x` as stored: itself, or rounded to the nearest f16.
    pub(crate) fn round(self, x: f32) -> f32 {
        match self {
            Precision::F32 => x,
            Precision::F16 => half::f16::from_f32(x).to_f32(),
        }
    }

    /// `Ok` when every value of the tensor `name` is finite once stored (see [`Precision`]).
    pub(crate) fn check(self, name: &str, values: &[f32]) -> Result<()> {
        if self == Precision::F32 {
            return Ok(());
        }
        match values.iter().position(|&x| self.round(x).is_infinite()) {
            None => Ok(()),
            Some(index) => Err(Error::WeightRange {
                name: name.to_string(),
                index,
                value: values[index],
                precision: self,
            }),
        }
    }

    /// The bytes the GPU reads for `values`: little-endian f32s, or f16s whose pairs are the
    /// `u32`s of shaders/half.wesl (the first in the low half), at least a vec4's worth.
    pub(crate) fn encode(self, values: &[f32]) -> Vec<u8> {
        let mut bytes: Vec<u8> = match self {
            Precision::F32 => values.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Precision::F16 => values
                .iter()
                .flat_map(|&x| half::f16::from_f32(x).to_le_bytes())
                .collect(),
        };
        // Whole u32 words (an odd count of halves), and never an empty binding.
        bytes.resize(bytes.len().next_multiple_of(4).max(16), 0);
        bytes
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Precision::F32 => "f32",
            Precision::F16 => "f16",
        })
    }
}

impl std::str::FromStr for Precision {
    type Err = String;

    /// `f32` or `f16` (as `--precision` takes them).
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "f32" => Ok(Precision::F32),
            "f16" => Ok(Precision::F16),
            _ => Err(format!("unknown precision `{s}`: expected f32 or f16")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_rounds_to_nearest_even_and_packs_pairs_low_half_first() {
        let p = Precision::F16;
        // 1 + 2^-11 is halfway between 1 and the next f16 (1 + 2^-10): ties go to even, 1.
        assert_eq!(p.round(1.0 + 2f32.powi(-11)), 1.0);
        assert_eq!(
            p.round(1.0 + 3.0 * 2f32.powi(-11)),
            1.0 + 2.0 * 2f32.powi(-10)
        );
        assert_eq!(p.round(65504.0), 65504.0);
        // f16 bits: 1.0 = 0x3C00, -2.0 = 0xC000, 0.5 = 0x3800.
        let bytes = p.encode(&[1.0, -2.0, 0.5]);
        assert_eq!(bytes.len(), 16, "whole words, at least a vec4");
        let word0 = u32::from_le_bytes(bytes[0..4].try_into().unwrap());
        assert_eq!(word0, 0xC000_3C00, "the first half in the low 16 bits");
        assert_eq!(&bytes[4..8], &[0x00, 0x38, 0, 0]);
        assert_eq!(Precision::F32.encode(&[1.0]).len(), 16);
        assert_eq!(
            Precision::F32.encode(&[0.5; 5])[16..20],
            0.5f32.to_le_bytes()
        );
    }

    #[test]
    fn a_weight_beyond_f16_range_is_refused_with_where_it_is() {
        assert!(Precision::F16.check("w", &[65504.0, -65519.0]).is_ok());
        let err = Precision::F16
            .check("weight_hh_l0", &[0.0, 1.0, -7.0e4])
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("weight_hh_l0")
                && text.contains("-70000")
                && text.contains("flat index 2"),
            "{text}"
        );
        assert!(Precision::F32.check("w", &[1e30]).is_ok());
        assert_eq!("f16".parse::<Precision>(), Ok(Precision::F16));
        assert!("bf16".parse::<Precision>().is_err());
    }
}
