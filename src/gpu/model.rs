//! A model uploaded to the GPU, and its forward pass: validate, upload, encode, read back.

use std::sync::Mutex;

use wgpu::{BufferUsages, PollType};

use super::context::GpuContext;
use super::kernels::{
    Kernel, LayerParams, BATCH_BLOCK, GEMM_COLS, GEMM_ROWS, GEMM_WORKGROUP, SEQUENCE_MAX_WIDTH,
    STEP_SLOT_SIZE, STEP_WORKGROUP,
};
use crate::config::{Kind, RnnConfig};
use crate::error::{Error, Result};
use crate::shape::{Input, Output, Resolved};
use crate::weights::DirectionWeights;

/// Rows (timesteps x batch) of input projection computed per chunk: bounds one GEMM dispatch.
const MAX_CHUNK_ROWS: usize = 16_384;
/// Timesteps one sequence-kernel dispatch runs at most.
const MAX_SEQUENCE_CHUNK: usize = 512;
/// Timesteps encoded per submit: long sequences go to the GPU in bounded command buffers
/// (OS watchdogs kill multi-second ones) while state stays on the GPU between them.
const STEPS_PER_SUBMIT: usize = 1_024;

/// How the recurrence is dispatched. Both give the same results; they differ in speed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Strategy {
    /// Chosen per model and device: [`Strategy::Sequence`] where it fits and wins, else
    /// [`Strategy::PerStep`].
    #[default]
    Auto,
    /// One fused dispatch per timestep (both directions at once), each invocation owning one
    /// hidden unit: spreads a step over the whole GPU, best for wide layers.
    PerStep,
    /// One workgroup per (sequence, direction) runs a whole chunk of timesteps in one
    /// dispatch, with the state in workgroup memory: no per-step dispatch cost, best for
    /// narrow layers and CPU adapters. Needs `hidden_size` and the state width <= 1024.
    Sequence,
}

/// An [`crate::Rnn`] whose weights live on a GPU. Create it with [`crate::Rnn::to_gpu`].
///
/// Weights are uploaded once; each forward pass creates its activation buffers, encodes the
/// whole sequence (one input-projection GEMM per chunk and one fused dispatch per timestep),
/// and reads the results back.
pub struct GpuRnn {
    ctx: GpuContext,
    config: RnnConfig,
    layers: Vec<LayerBuffers>,
    strategy: Strategy,
    /// Uniform slots holding 0, 1, 2, ... selected by dynamic offset; grown on demand.
    steps: Mutex<Option<StepSlots>>,
}

impl std::fmt::Debug for GpuRnn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuRnn")
            .field("config", &self.config)
            .field("context", &self.ctx)
            .finish()
    }
}

struct LayerBuffers {
    w_ih: wgpu::Buffer,
    b_ih: wgpu::Buffer,
    w_hh: wgpu::Buffer,
    b_hh: wgpu::Buffer,
    w_hr: wgpu::Buffer,
}

struct StepSlots {
    capacity: usize,
    stride: u64,
    _buffer: wgpu::Buffer,
    bind_group: wgpu::BindGroup,
}

/// How a forward pass waits for the GPU.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Wait {
    /// `device.poll(wait)`: for blocking callers.
    Block,
    /// Non-blocking polls, yielding to the executor in between.
    Yield,
}

fn f32_bytes(data: &[f32]) -> &[u8] {
    bytemuck::cast_slice(data)
}

/// Errors captured while the crate talks to wgpu, turned into [`Error::Gpu`].
struct Scopes(Vec<wgpu::ErrorScopeGuard>);

impl Scopes {
    fn push(device: &wgpu::Device) -> Self {
        Scopes(
            [
                wgpu::ErrorFilter::Validation,
                wgpu::ErrorFilter::OutOfMemory,
                wgpu::ErrorFilter::Internal,
            ]
            .into_iter()
            .map(|f| device.push_error_scope(f))
            .collect(),
        )
    }

    /// Pops every scope now (innermost first); the returned future reports the first error.
    fn pop(
        mut self,
        operation: &'static str,
    ) -> impl std::future::Future<Output = Result<()>> + Send {
        let mut futures = Vec::new();
        while let Some(scope) = self.0.pop() {
            futures.push(scope.pop());
        }
        async move {
            for f in futures {
                if let Some(e) = f.await {
                    return Err(Error::Gpu {
                        operation,
                        message: e.to_string(),
                    });
                }
            }
            Ok(())
        }
    }
}

impl Drop for Scopes {
    /// Scopes must be popped innermost first, also on an early return.
    fn drop(&mut self) {
        while let Some(scope) = self.0.pop() {
            drop(scope);
        }
    }
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
                return Err(Error::DeviceLimit {
                    what: what.into(),
                    limit_name,
                    limit,
                    needed: bytes,
                    hint: hint.into(),
                });
            }
        }
        Ok(())
    }

    fn storage(&self, label: &str, contents: &[f32]) -> wgpu::Buffer {
        // A zero-sized binding is invalid; every buffer holds at least one vec4.
        let padded;
        let bytes = if contents.len() < 4 {
            padded = [contents, &[0.0; 4][..4 - contents.len()]].concat();
            f32_bytes(&padded)
        } else {
            f32_bytes(contents)
        };
        self.buffer_with(label, bytes, BufferUsages::STORAGE | BufferUsages::COPY_SRC)
    }

    /// A buffer holding `bytes`, written through the queue: unlike `create_buffer_init`,
    /// which panics when the device is lost, this reports through the error scopes.
    fn buffer_with(&self, label: &str, bytes: &[u8], usage: BufferUsages) -> wgpu::Buffer {
        let buffer = self.inner.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: (bytes.len() as u64).next_multiple_of(wgpu::COPY_BUFFER_ALIGNMENT),
            usage: usage | BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        self.inner.queue.write_buffer(&buffer, 0, bytes);
        buffer
    }

    fn scratch(&self, label: &str, floats: usize) -> wgpu::Buffer {
        self.inner.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: (floats.max(4) * 4) as u64,
            usage: BufferUsages::STORAGE | BufferUsages::COPY_DST | BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        })
    }
}

/// `w_hh[d][k][j]` = the unit's gate rows at column `k`, padded to a vec4.
fn pack_recurrent(config: &RnnConfig, dirs: &[DirectionWeights]) -> Vec<f32> {
    let (h, h_out, g) = (
        config.hidden_size,
        config.state_width(),
        config.kind.gate_count(),
    );
    let mut packed = vec![0.0; dirs.len() * h_out * h * 4];
    for (d, w) in dirs.iter().enumerate() {
        for k in 0..h_out {
            for j in 0..h {
                for gate in 0..g {
                    packed[((d * h_out + k) * h + j) * 4 + gate] =
                        w.w_hh[(gate * h + j) * h_out + k];
                }
            }
        }
    }
    packed
}

/// `W_ih` transposed to `[d][k][n]` (n padded to [`gate_stride`]), so neighbouring invocations
/// read neighbouring memory.
fn transpose_input(dirs: &[DirectionWeights]) -> Vec<f32> {
    let mut packed = Vec::new();
    for w in dirs {
        let n_len = w.b_ih.len();
        let stride = gate_stride(n_len);
        let k_len = w.w_ih.len() / n_len.max(1);
        for k in 0..k_len {
            packed.extend((0..stride).map(|n| {
                if n < n_len {
                    w.w_ih[n * k_len + k]
                } else {
                    0.0
                }
            }));
        }
    }
    packed
}

/// `b_ih` of every direction, each padded with zeros to [`gate_stride`].
fn pad_bias(dirs: &[DirectionWeights]) -> Vec<f32> {
    let mut padded = Vec::new();
    for w in dirs {
        padded.extend_from_slice(&w.b_ih);
        padded.resize(padded.len() + gate_stride(w.b_ih.len()) - w.b_ih.len(), 0.0);
    }
    padded
}

/// Rows of the input projection rounded up to the 4 columns each GEMM invocation computes.
fn gate_stride(gate_rows: usize) -> usize {
    gate_rows.next_multiple_of(GEMM_COLS as usize)
}

/// `W_hr` transposed to `[d][j][r]`, so neighbouring invocations (r) read neighbouring memory.
fn pack_projection(config: &RnnConfig, dirs: &[DirectionWeights]) -> Vec<f32> {
    let (h, p) = (config.hidden_size, config.proj_size);
    let mut packed = vec![0.0; dirs.len() * h * p];
    for (d, w) in dirs.iter().enumerate() {
        for r in 0..p {
            for j in 0..h {
                packed[(d * h + j) * p + r] = w.w_hr[r * h + j];
            }
        }
    }
    packed
}

impl GpuRnn {
    pub(crate) fn upload(
        ctx: &GpuContext,
        config: &RnnConfig,
        layers: &[Vec<DirectionWeights>],
    ) -> Result<Self> {
        let hint = "reduce hidden_size or input_size";
        let (d, gh, h, h_out) = (
            config.num_directions(),
            config.gate_rows(),
            config.hidden_size,
            config.state_width(),
        );
        for l in 0..config.num_layers {
            let w_ih = (d * gate_stride(gh) * config.layer_input_size(l) * 4) as u64;
            ctx.check_buffer(format!("weight_ih_l{l} (both directions)"), w_ih, hint)?;
            ctx.check_buffer(
                format!("weight_hh_l{l} (packed, both directions)"),
                (d * h_out * h * 16) as u64,
                hint,
            )?;
        }
        let device = &ctx.inner.device;
        let scopes = Scopes::push(device);
        let cat = |f: &dyn Fn(&DirectionWeights) -> &[f32],
                   dirs: &[DirectionWeights]|
         -> Vec<f32> { dirs.iter().flat_map(|w| f(w).iter().copied()).collect() };
        let buffers = layers
            .iter()
            .enumerate()
            .map(|(l, dirs)| LayerBuffers {
                w_ih: ctx.storage(
                    &format!("weight_ih_l{l} transposed"),
                    &transpose_input(dirs),
                ),
                b_ih: ctx.storage(&format!("bias_ih_l{l} padded"), &pad_bias(dirs)),
                w_hh: ctx.storage(
                    &format!("weight_hh_l{l} packed"),
                    &pack_recurrent(config, dirs),
                ),
                b_hh: ctx.storage(&format!("bias_hh_l{l}"), &cat(&|w| &w.b_hh, dirs)),
                w_hr: ctx.storage(
                    &format!("weight_hr_l{l} transposed"),
                    &pack_projection(config, dirs),
                ),
            })
            .collect();
        pollster::block_on(scopes.pop("uploading the weights"))?;
        Ok(GpuRnn {
            ctx: ctx.clone(),
            config: config.clone(),
            layers: buffers,
            strategy: Strategy::Auto,
            steps: Mutex::new(None),
        })
    }

    /// The configuration of the uploaded model.
    pub fn config(&self) -> &RnnConfig {
        &self.config
    }

    /// Chooses how the recurrence is dispatched (the default is [`Strategy::Auto`]).
    ///
    /// # Errors
    /// [`Error::Unsupported`] for [`Strategy::Sequence`] when `hidden_size` or the state
    /// width exceeds 1024.
    pub fn set_strategy(&mut self, strategy: Strategy) -> Result<()> {
        if strategy == Strategy::Sequence && !self.sequence_fits() {
            return Err(Error::Unsupported {
                what: format!(
                    "Strategy::Sequence with hidden_size={} and state width {}",
                    self.config.hidden_size,
                    self.config.state_width()
                ),
                reason: format!("its workgroup memory holds at most {SEQUENCE_MAX_WIDTH} units; use Strategy::PerStep or Auto"),
            });
        }
        self.strategy = strategy;
        Ok(())
    }

    /// The strategy set with [`GpuRnn::set_strategy`] (`Auto` unless changed).
    pub fn strategy(&self) -> Strategy {
        self.strategy
    }

    /// The strategy a forward pass over `batch` sequences uses, with `Auto` resolved.
    pub fn strategy_for(&self, batch: usize) -> Strategy {
        if self.strategy != Strategy::Auto {
            return self.strategy;
        }
        if !self.sequence_fits() {
            return Strategy::PerStep;
        }
        let cpu = self
            .ctx
            .adapter_info()
            .is_some_and(|i| i.device_type == wgpu::DeviceType::Cpu);
        // Measured on lavapipe (BENCHMARKS.md): the per-step kernel shares each weight load
        // across a block of 8 sequences and wins from 4 sequences up; below that the
        // workgroup-per-sequence kernel wins. On GPUs a dispatch costs several microseconds,
        // which the sequence kernel saves while one workgroup can still do a step's work.
        let sequence = if cpu {
            batch < 4
        } else {
            self.config.hidden_size <= 128
        };
        if sequence {
            Strategy::Sequence
        } else {
            Strategy::PerStep
        }
    }

    fn sequence_fits(&self) -> bool {
        self.config.hidden_size <= SEQUENCE_MAX_WIDTH
            && self.config.state_width() <= SEQUENCE_MAX_WIDTH
    }

    /// The context the weights live on.
    pub fn context(&self) -> &GpuContext {
        &self.ctx
    }

    /// Runs the stack on the GPU and waits for the result.
    ///
    /// # Errors
    /// Every shape, state and length error of [`RnnConfig::check`], found before any GPU work;
    /// [`Error::DeviceLimit`] when the work does not fit the device; [`Error::Gpu`] when the
    /// device fails (lost, out of memory).
    pub fn forward(&self, input: &Input<'_>) -> Result<Output> {
        pollster::block_on(self.run(input, Wait::Block))
    }

    /// As [`GpuRnn::forward`], without blocking the executor while the GPU works.
    ///
    /// # Errors
    /// As [`GpuRnn::forward`].
    pub async fn forward_async(&self, input: &Input<'_>) -> Result<Output> {
        self.run(input, Wait::Yield).await
    }

    async fn run(&self, input: &Input<'_>, wait: Wait) -> Result<Output> {
        let resolved = crate::shape::resolve(&self.config, &input.shapes())?;
        input.check_finite()?;
        if resolved.t == 0 || resolved.b == 0 {
            return crate::model::empty_output(input, &resolved);
        }
        let health = &self.ctx.inner.health;
        health.check()?;
        let result = self
            .execute(input, &resolved, wait)
            .await
            .map_err(|e| health.explain(e));
        // Errors wgpu reported outside our scopes during the run (own devices only).
        health.check()?;
        result
    }

    async fn execute(&self, input: &Input<'_>, resolved: &Resolved, wait: Wait) -> Result<Output> {
        let resolved = resolved.clone();
        let host = crate::model::HostSequences::new(&self.config, input, &resolved);
        let plan = Plan::new(
            &self.ctx,
            &self.config,
            &resolved,
            self.strategy_for(resolved.b),
        )?;
        let (staging, errors) = self.encode_and_submit(&plan, &host, &resolved)?;
        errors.await?;
        let values = self.read_back(&staging, wait).await?;
        let (out_len, hn_len) = (plan.output_floats, plan.state_floats);
        let output = values[..out_len].to_vec();
        let h_n = values[out_len..out_len + hn_len].to_vec();
        let c_n = values[out_len + hn_len..out_len + hn_len + plan.cell_floats].to_vec();
        Ok(crate::model::finish_output(
            &self.config,
            &resolved,
            output,
            h_n,
            c_n,
        ))
    }

    fn step_slots(&self, needed: usize) -> Result<std::sync::MutexGuard<'_, Option<StepSlots>>> {
        let mut slots = self.steps.lock().unwrap_or_else(|e| e.into_inner());
        if slots.as_ref().is_none_or(|s| s.capacity < needed) {
            let device = &self.ctx.inner.device;
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
            let buffer =
                self.ctx
                    .buffer_with("wgpu-rnn step indices", &contents, BufferUsages::UNIFORM);
            let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("wgpu-rnn step indices"),
                layout: &self.ctx.inner.kernels.step_layout,
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
        }
        Ok(slots)
    }

    /// Creates the activation buffers, encodes every layer and submits; the returned future
    /// reports any error wgpu captured meanwhile.
    fn encode_and_submit(
        &self,
        plan: &Plan,
        host: &crate::model::HostSequences,
        resolved: &Resolved,
    ) -> Result<(
        wgpu::Buffer,
        impl std::future::Future<Output = Result<()>> + Send,
    )> {
        let ctx = &self.ctx;
        let (device, queue, kernels) = (&ctx.inner.device, &ctx.inner.queue, &ctx.inner.kernels);
        let config = &self.config;
        let (t_len, b) = (resolved.t, resolved.b);
        let (d, h, h_out, gh) = (
            config.num_directions(),
            config.hidden_size,
            config.state_width(),
            config.gate_rows(),
        );
        let lstm = config.kind == Kind::Lstm;

        let scopes = Scopes::push(device);
        let slots_guard = self.step_slots(t_len)?;
        let slots = slots_guard.as_ref().ok_or(Error::Gpu {
            operation: "indexing timesteps",
            message: "no slots".into(),
        })?;

        let x = ctx.storage("input (time-major)", &host.x);
        let lengths: Vec<u32> = host.lengths.iter().map(|&l| l as u32).collect();
        let lengths = ctx.buffer_with(
            "lengths",
            bytemuck::cast_slice(&[lengths.as_slice(), &[0; 4]].concat()),
            BufferUsages::STORAGE,
        );
        let h_n = ctx.storage("h_n", &host.h0);
        let c_n = ctx.storage("c_n", &host.c0);
        let gates = ctx.scratch(
            "input projection chunk",
            d * plan.chunk_steps * b * gate_stride(gh),
        );
        let state = ctx.scratch("h ping-pong", 2 * d * b * h_out);
        let cell = ctx.scratch("c and o*tanh(c)", if lstm { 2 * d * b * h } else { 4 });
        let outputs: Vec<wgpu::Buffer> = (0..config.num_layers.min(2))
            .map(|i| ctx.scratch(&format!("layer output {i}"), plan.output_floats))
            .collect();
        let staging = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("read back"),
            size: ((plan.output_floats + plan.state_floats + plan.cell_floats) * 4) as u64,
            usage: BufferUsages::MAP_READ | BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });

        let state_bytes = (d * b * h_out * 4) as u64;
        let cell_bytes = (d * b * h * 4) as u64;
        let sequence = plan.strategy == Strategy::Sequence;
        let (step_kernel, sequence_kernel) = match config.kind {
            Kind::Gru => (Kernel::GruStep, Kernel::GruSequence),
            Kind::Lstm => (Kernel::LstmStep, Kernel::LstmSequence),
            Kind::RnnTanh | Kind::RnnRelu => (Kernel::RnnStep, Kernel::RnnSequence),
        };
        let n_chunks = t_len.div_ceil(plan.chunk_steps);
        let batch_blocks = (b as u32).div_ceil(BATCH_BLOCK);
        let mut encoder = device.create_command_encoder(&Default::default());
        let mut steps_in_encoder = 0;
        for (l, weights) in self.layers.iter().enumerate() {
            let params = LayerParams {
                seq_len: t_len as u32,
                batch: b as u32,
                in_size: config.layer_input_size(l) as u32,
                hidden: h as u32,
                state_width: h_out as u32,
                directions: d as u32,
                chunk_steps: plan.chunk_steps as u32,
                gate_rows: gh as u32,
                gate_stride: gate_stride(gh) as u32,
                relu: (config.kind == Kind::RnnRelu) as u32,
                project: (config.proj_size > 0) as u32,
                ..Default::default()
            };
            let params = ctx.buffer_with(
                "layer params",
                bytemuck::bytes_of(&params),
                BufferUsages::UNIFORM,
            );
            let layer_in = if l == 0 { &x } else { &outputs[(l - 1) % 2] };
            let layer_out = &outputs[l % 2];
            let bind = |layout: &wgpu::BindGroupLayout, buffers: &[&wgpu::Buffer]| {
                let entries: Vec<_> = buffers
                    .iter()
                    .enumerate()
                    .map(|(i, buf)| wgpu::BindGroupEntry {
                        binding: i as u32,
                        resource: buf.as_entire_binding(),
                    })
                    .collect();
                device.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: None,
                    layout,
                    entries: &entries,
                })
            };
            let gemm_group = bind(
                &kernels.gemm_layout,
                &[&params, layer_in, &weights.w_ih, &weights.b_ih, &gates],
            );
            let step_group = bind(
                &kernels.recurrent_layout,
                &[
                    &params,
                    &gates,
                    &weights.w_hh,
                    &weights.b_hh,
                    &lengths,
                    &state,
                    &cell,
                    layer_out,
                    &weights.w_hr,
                ],
            );

            let slot = (l * d) as u64;
            encoder.copy_buffer_to_buffer(
                &h_n,
                slot * (b * h_out * 4) as u64,
                &state,
                0,
                state_bytes,
            );
            if lstm {
                encoder.copy_buffer_to_buffer(
                    &c_n,
                    slot * (b * h * 4) as u64,
                    &cell,
                    0,
                    cell_bytes,
                );
            }
            for chunk in 0..n_chunks {
                let first = chunk * plan.chunk_steps;
                let steps = plan.chunk_steps.min(t_len - first);
                {
                    let mut pass = encoder.begin_compute_pass(&Default::default());
                    pass.set_pipeline(kernels.pipeline(Kernel::InputProjection));
                    pass.set_bind_group(0, &gemm_group, &[]);
                    pass.set_bind_group(
                        1,
                        &slots.bind_group,
                        &[(chunk as u64 * slots.stride) as u32],
                    );
                    pass.dispatch_workgroups(
                        (gate_stride(gh) as u32 / GEMM_COLS).div_ceil(GEMM_WORKGROUP),
                        ((steps * b) as u32).div_ceil(GEMM_ROWS),
                        d as u32,
                    );
                    pass.set_bind_group(0, &step_group, &[]);
                    if sequence {
                        pass.set_pipeline(kernels.pipeline(sequence_kernel));
                        pass.dispatch_workgroups(1, b as u32, d as u32);
                    }
                    for s in (first..first + steps).filter(|_| !sequence) {
                        pass.set_bind_group(
                            1,
                            &slots.bind_group,
                            &[(s as u64 * slots.stride) as u32],
                        );
                        pass.set_pipeline(kernels.pipeline(step_kernel));
                        pass.dispatch_workgroups(
                            (h as u32).div_ceil(STEP_WORKGROUP),
                            batch_blocks,
                            d as u32,
                        );
                        if config.proj_size > 0 {
                            pass.set_pipeline(kernels.pipeline(Kernel::LstmProject));
                            pass.dispatch_workgroups(
                                (h_out as u32).div_ceil(STEP_WORKGROUP),
                                batch_blocks,
                                d as u32,
                            );
                        }
                    }
                }
                steps_in_encoder += steps;
                if steps_in_encoder >= STEPS_PER_SUBMIT {
                    queue.submit([std::mem::replace(
                        &mut encoder,
                        device.create_command_encoder(&Default::default()),
                    )
                    .finish()]);
                    steps_in_encoder = 0;
                }
            }
            let last = ((t_len % 2) as u64) * state_bytes;
            encoder.copy_buffer_to_buffer(
                &state,
                last,
                &h_n,
                slot * (b * h_out * 4) as u64,
                state_bytes,
            );
            if lstm {
                encoder.copy_buffer_to_buffer(
                    &cell,
                    0,
                    &c_n,
                    slot * (b * h * 4) as u64,
                    cell_bytes,
                );
            }
        }
        let out_bytes = (plan.output_floats * 4) as u64;
        let hn_bytes = (plan.state_floats * 4) as u64;
        encoder.copy_buffer_to_buffer(
            &outputs[(config.num_layers - 1) % 2],
            0,
            &staging,
            0,
            out_bytes,
        );
        encoder.copy_buffer_to_buffer(&h_n, 0, &staging, out_bytes, hn_bytes);
        if lstm {
            encoder.copy_buffer_to_buffer(
                &c_n,
                0,
                &staging,
                out_bytes + hn_bytes,
                (plan.cell_floats * 4) as u64,
            );
        }
        queue.submit([encoder.finish()]);
        drop(slots_guard);
        Ok((staging, scopes.pop("running the forward pass")))
    }

    async fn read_back(&self, staging: &wgpu::Buffer, wait: Wait) -> Result<Vec<f32>> {
        let device = &self.ctx.inner.device;
        let (tx, mut rx) = futures::channel::oneshot::channel();
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
                futures::future::poll_fn(|cx| {
                    if let Err(e) = device.poll(PollType::Poll) {
                        return std::task::Poll::Ready(Err(lost(&e)));
                    }
                    match futures::FutureExt::poll_unpin(&mut rx, cx) {
                        std::task::Poll::Ready(r) => std::task::Poll::Ready(Ok(r)),
                        std::task::Poll::Pending => {
                            cx.waker().wake_by_ref();
                            std::task::Poll::Pending
                        }
                    }
                })
                .await?
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
            view.chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect()
        };
        staging.unmap();
        Ok(values)
    }
}

/// Sizes of one forward pass, checked against the device before anything is created.
struct Plan {
    strategy: Strategy,
    chunk_steps: usize,
    output_floats: usize,
    state_floats: usize,
    cell_floats: usize,
}

impl Plan {
    fn new(ctx: &GpuContext, config: &RnnConfig, r: &Resolved, strategy: Strategy) -> Result<Plan> {
        let limits = ctx.inner.device.limits();
        let (d, gh, b, t) = (config.num_directions(), config.gate_rows(), r.b, r.t);
        let max_groups = limits.max_compute_workgroups_per_dimension as usize;
        let gemm_groups = (gate_stride(gh) / GEMM_COLS as usize).div_ceil(GEMM_WORKGROUP as usize);
        if b > max_groups || gemm_groups > max_groups {
            return Err(Error::DeviceLimit {
                what: format!("a batch of {b} sequences with {gh} gate rows"),
                limit_name: "max_compute_workgroups_per_dimension",
                limit: max_groups as u64,
                needed: b.max(gemm_groups) as u64,
                hint: "split the batch into smaller calls".into(),
            });
        }
        let per_step = (d * b * gate_stride(gh) * 4) as u64;
        let binding = limits
            .max_storage_buffer_binding_size
            .min(limits.max_buffer_size);
        let by_memory = (binding / per_step.max(1)) as usize;
        if by_memory == 0 {
            ctx.check_buffer(
                "the input projection of one timestep",
                per_step,
                "reduce the batch size or hidden_size",
            )?;
        }
        let by_rows = (MAX_CHUNK_ROWS / b).max(1);
        let by_dispatch = max_groups * GEMM_ROWS as usize / b;
        // A sequence dispatch runs a whole chunk: keep each one short of any GPU watchdog.
        let by_latency = if strategy == Strategy::Sequence {
            MAX_SEQUENCE_CHUNK
        } else {
            usize::MAX
        };
        let chunk_steps = t
            .min(by_memory)
            .min(by_rows)
            .min(by_dispatch)
            .min(by_latency)
            .max(1);

        let output_floats = t * b * config.output_width();
        let state_floats = config.num_layers * d * b * config.state_width();
        let cell_floats = if config.kind == Kind::Lstm {
            config.num_layers * d * b * config.hidden_size
        } else {
            0
        };
        let hint =
            "shorten the sequence or the batch (split it into calls and pass h_n back as h0)";
        ctx.check_buffer(
            format!("the input (T={t}, B={b})"),
            (t * b * config.input_size * 4) as u64,
            hint,
        )?;
        ctx.check_buffer(
            format!("the layer output (T={t}, B={b})"),
            (output_floats * 4) as u64,
            hint,
        )?;
        ctx.check_buffer(
            "the read-back buffer",
            ((output_floats + state_floats + cell_floats) * 4) as u64,
            hint,
        )?;
        Ok(Plan {
            strategy,
            chunk_steps,
            output_floats,
            state_floats,
            cell_floats,
        })
    }
}
