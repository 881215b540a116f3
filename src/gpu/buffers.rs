//! Buffers and error scopes: the plumbing every GPU call shares.

use wgpu::{BufferUsages, PollType};

use super::context::GpuContext;
use super::sequence::SOFTWARE_LOOP_LIMIT;
use crate::error::{Error, Result};

/// How a call waits for the GPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wait {
    /// `device.poll(wait)` on the calling thread: for blocking callers (native only).
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))]
    Block,
    /// Await the mapping callback: the awaiting task sleeps until it fires. In a browser the
    /// page runs the callback once the task yields; natively a helper thread waits in
    /// `device.poll` (wgpu runs callbacks there).
    Yield,
}

pub(crate) fn f32_bytes(data: &[f32]) -> &[u8] {
    bytemuck::cast_slice(data)
}

impl GpuContext {
    /// Fails with [`Error::DeviceLimit`] when one buffer of `bytes` cannot be bound on this device.
    pub(crate) fn check_buffer(
        &self,
        what: impl Into<String>,
        bytes: u64,
        hint: &str,
    ) -> Result<()> {
        let limits = self.inner.device.limits();
        for (limit_name, limit) in [
            (
                "max_storage_buffer_binding_size",
                limits.max_storage_buffer_binding_size,
            ),
            ("max_buffer_size", limits.max_buffer_size),
        ] {
            if bytes > limit {
                return Err(device_limit(what, limit_name, limit, bytes, hint));
            }
        }
        Ok(())
    }

    /// Fails with [`Error::DeviceLimit`] when a kernel invocation would loop `n` times
    /// on a software adapter: llvmpipe ends every loop of an invocation after 65,535
    /// iterations in all (gpu::sequence), and the result would be silently wrong.
    pub(crate) fn check_loop(&self, what: impl Into<String>, n: usize, hint: &str) -> Result<()> {
        if self.on_cpu_adapter() && n > SOFTWARE_LOOP_LIMIT {
            return Err(device_limit(
                what,
                "loop iterations per invocation on a software adapter (llvmpipe)",
                SOFTWARE_LOOP_LIMIT as u64,
                n as u64,
                hint,
            ));
        }
        Ok(())
    }

    /// Per-sequence lengths as `u32`, padded with zeros to whole blocks of 16 sequences: the
    /// step kernels read a block's lengths a vec4 at a time.
    pub(crate) fn lengths(&self, lengths: &[usize]) -> wgpu::Buffer {
        self.buffer_with(
            "lengths",
            bytemuck::cast_slice(&padded_lengths(lengths)),
            BufferUsages::STORAGE,
        )
    }

    /// Rewrites a buffer made by [`GpuContext::lengths`] for the same number of sequences.
    pub(crate) fn write_lengths(&self, buffer: &wgpu::Buffer, lengths: &[usize]) {
        let padded = padded_lengths(lengths);
        self.inner
            .queue
            .write_buffer(buffer, 0, bytemuck::cast_slice(&padded));
    }

    pub(crate) fn storage(&self, label: &str, contents: &[f32]) -> wgpu::Buffer {
        self.buffer_with(
            label,
            f32_bytes(&at_least_a_vec4(contents)),
            BufferUsages::STORAGE | BufferUsages::COPY_SRC,
        )
    }

    /// Rewrites a buffer made by [`GpuContext::storage`] with as many floats.
    pub(crate) fn write_storage(&self, buffer: &wgpu::Buffer, contents: &[f32]) {
        self.inner
            .queue
            .write_buffer(buffer, 0, f32_bytes(&at_least_a_vec4(contents)));
    }

    /// A buffer holding `bytes`, written through the queue: unlike `create_buffer_init`,
    /// which panics when the device is lost, this reports through the error scopes.
    pub(crate) fn buffer_with(
        &self,
        label: &str,
        bytes: &[u8],
        usage: BufferUsages,
    ) -> wgpu::Buffer {
        let buffer = self.inner.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: (bytes.len() as u64).next_multiple_of(wgpu::COPY_BUFFER_ALIGNMENT),
            usage: usage | BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        self.inner.queue.write_buffer(&buffer, 0, bytes);
        buffer
    }

    /// A buffer to copy results into and map for reading.
    pub(crate) fn staging(&self, label: &str, bytes: u64) -> wgpu::Buffer {
        self.inner.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: bytes,
            usage: BufferUsages::MAP_READ | BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    }

    /// The workgroup grid covering `invocations` of a kernel `workgroup` wide that flattens
    /// its grid with `num_workgroups` (dense.wesl, swap.wesl): as wide as the device allows,
    /// then rows. `what` names the work for the error.
    pub(crate) fn flat_grid(
        &self,
        what: &str,
        invocations: usize,
        workgroup: u32,
    ) -> Result<(u32, u32)> {
        let max = self
            .inner
            .device
            .limits()
            .max_compute_workgroups_per_dimension as usize;
        let needed = invocations.div_ceil(workgroup as usize);
        let x = needed.clamp(1, max.max(1));
        let y = needed.div_ceil(x);
        if y > max {
            return Err(Error::DeviceLimit {
                what: format!("{what} of {invocations} invocations"),
                limit_name: "max_compute_workgroups_per_dimension",
                limit: max as u64,
                needed: y as u64,
                hint: "split the batch into smaller calls".into(),
            });
        }
        Ok((x as u32, y as u32))
    }

    pub(crate) fn scratch(&self, label: &str, floats: usize) -> wgpu::Buffer {
        self.inner.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: (floats.max(4).next_multiple_of(4) * 4) as u64, // whole vec4s
            usage: BufferUsages::STORAGE | BufferUsages::COPY_DST | BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        })
    }

    /// A bind group of `layout` with `buffers[i]` bound whole at binding `i`: the kernels
    /// that bind every buffer in order (dense, swap, pack).
    pub(crate) fn bind_in_order(
        &self,
        label: &str,
        layout: &wgpu::BindGroupLayout,
        buffers: &[&wgpu::Buffer],
    ) -> wgpu::BindGroup {
        let entries: Vec<_> = (buffers.iter().enumerate())
            .map(|(i, buffer)| wgpu::BindGroupEntry {
                binding: i as u32,
                resource: buffer.as_entire_binding(),
            })
            .collect();
        self.inner
            .device
            .create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some(label),
                layout,
                entries: &entries,
            })
    }
}

fn device_limit(
    what: impl Into<String>,
    limit_name: &'static str,
    limit: u64,
    needed: u64,
    hint: &str,
) -> Error {
    Error::DeviceLimit {
        what: what.into(),
        limit_name,
        limit,
        needed,
        hint: hint.into(),
    }
}

/// Lengths as `u32`, padded with zeros to whole blocks of 16 sequences.
fn padded_lengths(lengths: &[usize]) -> Vec<u32> {
    let mut padded: Vec<u32> = lengths.iter().map(|&l| l as u32).collect();
    padded.resize(padded.len().next_multiple_of(16).max(16), 0);
    padded
}

/// `contents`, padded with zeros to one vec4: a zero-sized binding is invalid, so every buffer
/// holds at least one.
fn at_least_a_vec4(contents: &[f32]) -> std::borrow::Cow<'_, [f32]> {
    match contents.len() {
        0..4 => [contents, &[0.0; 4][..4 - contents.len()]].concat().into(),
        _ => contents.into(),
    }
}

/// Maps `staging` and returns its contents as `f32`.
pub(crate) async fn read_back(
    device: &wgpu::Device,
    staging: &wgpu::Buffer,
    wait: Wait,
) -> Result<Vec<f32>> {
    read_back_with(device, staging, wait, <[f32]>::to_vec).await
}

/// Maps `staging`, hands its values to `read` while mapped (no copy of ours in between) and
/// unmaps it.
pub(crate) async fn read_back_with<R>(
    device: &wgpu::Device,
    staging: &wgpu::Buffer,
    wait: Wait,
    read: impl FnOnce(&[f32]) -> R,
) -> Result<R> {
    let (tx, rx) = futures::channel::oneshot::channel();
    staging.slice(..).map_async(wgpu::MapMode::Read, move |r| {
        let _ = tx.send(r);
    });
    let lost = |e: &dyn std::fmt::Display| Error::Gpu {
        operation: "waiting for the GPU",
        message: e.to_string(),
    };
    let mapped = match wait {
        Wait::Block => {
            device
                .poll(PollType::wait_indefinitely())
                .map_err(|e| lost(&e))?;
            rx.await
        }
        Wait::Yield => {
            #[cfg(not(target_arch = "wasm32"))]
            {
                // A device lost meanwhile drops the callback, which the await below reports.
                // Where the system has no thread to spare, wait here instead: a blocked
                // caller, not a panic.
                let poller = device.clone();
                let spawned = std::thread::Builder::new()
                    .name("wgpu-rnn poll".into())
                    .spawn(move || poller.poll(PollType::wait_indefinitely()));
                if spawned.is_err() {
                    device
                        .poll(PollType::wait_indefinitely())
                        .map_err(|e| lost(&e))?;
                }
            }
            rx.await
        }
    };
    mapped
        .map_err(|_| lost(&"the mapping callback was dropped (device lost?)"))?
        .map_err(|e| Error::Gpu {
            operation: "reading results back",
            message: e.to_string(),
        })?;
    let values = {
        let view = staging
            .slice(..)
            .get_mapped_range()
            .map_err(|e| Error::Gpu {
                operation: "reading results back",
                message: e.to_string(),
            })?;
        // Mapped ranges are aligned (wgpu::MAP_ALIGNMENT); the values are little-endian
        // f32 on every platform wgpu runs on.
        match bytemuck::try_cast_slice::<u8, f32>(&view) {
            Ok(floats) => read(floats),
            Err(_) => read(
                &view
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect::<Vec<_>>(),
            ),
        }
    };
    staging.unmap();
    Ok(values)
}
