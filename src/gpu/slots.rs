//! The timestep index table: uniform slots holding 0, 1, 2, ..., one chosen per dispatch with
//! a dynamic offset, so that a step's index reaches the kernel without creating anything per
//! step. One table per model, grown on demand.

use std::sync::{Mutex, MutexGuard};

use wgpu::BufferUsages;

use super::context::GpuContext;
use super::kernels::STEP_SLOT_SIZE;
use crate::error::{Error, Result};

pub(crate) struct StepSlots {
    pub capacity: usize,
    /// Bytes between two slots (`min_uniform_buffer_offset_alignment` at least).
    pub stride: u64,
    _buffer: wgpu::Buffer,
    pub bind_group: wgpu::BindGroup,
}

impl StepSlots {
    /// The dynamic offset of slot `i`.
    pub(crate) fn offset(&self, i: usize) -> u32 {
        (i as u64 * self.stride) as u32
    }
}

/// A model's table, grown to the longest pass so far.
#[derive(Default)]
pub(crate) struct StepTable(Mutex<Option<StepSlots>>);

impl StepTable {
    /// The table with at least `needed` slots, grown now where it holds fewer.
    ///
    /// # Errors
    /// [`Error::DeviceLimit`] when the table would exceed `max_buffer_size`.
    pub(crate) fn at_least(
        &self,
        ctx: &GpuContext,
        needed: usize,
    ) -> Result<MutexGuard<'_, Option<StepSlots>>> {
        let mut slots = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if slots.as_ref().is_some_and(|s| s.capacity >= needed) {
            return Ok(slots);
        }
        let device = &ctx.inner.device;
        let stride =
            (device.limits().min_uniform_buffer_offset_alignment as u64).max(STEP_SLOT_SIZE);
        let capacity = needed.next_power_of_two();
        let bytes = stride * capacity as u64;
        if bytes > device.limits().max_buffer_size {
            return Err(Error::DeviceLimit {
                what: format!("the timestep index table for T={needed}"),
                limit_name: "max_buffer_size",
                limit: device.limits().max_buffer_size,
                needed: bytes,
                hint: "split the sequence into shorter calls and pass h_n back as h0".into(),
            });
        }
        let mut contents = vec![0u8; bytes as usize];
        for i in 0..capacity {
            let at = i * stride as usize;
            contents[at..at + 4].copy_from_slice(&(i as u32).to_le_bytes());
        }
        let buffer = ctx.buffer_with("wgpu-rnn step indices", &contents, BufferUsages::UNIFORM);
        let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("wgpu-rnn step indices"),
            layout: &ctx.inner.kernels.step_layout,
            entries: &[wgpu::BindGroupEntry {
                binding: 0,
                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: &buffer,
                    offset: 0,
                    size: wgpu::BufferSize::new(STEP_SLOT_SIZE),
                }),
            }],
        });
        *slots = Some(StepSlots {
            capacity,
            stride,
            _buffer: buffer,
            bind_group,
        });
        Ok(slots)
    }
}
