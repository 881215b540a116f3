//! The GPU path: a context (adapter, device, kernels), models uploaded to it, and their
//! forward pass.

mod context;
pub(crate) mod kernels;
mod model;

pub use context::{AdapterChoice, GpuContext};
pub use model::{GpuRnn, Strategy};
