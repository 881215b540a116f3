//! What a [`GpuRnn`](super::GpuRnn) holds on the device, and how it plans a pass: the
//! context, the configuration, the weights, the timestep table, the strategy and the copies
//! of the weights made on first use: W_hh packed by unit once the sequence kernel ran, every
//! layer's weights gathered once the wavefront ran. Host passes, resident passes and
//! streams all build their work from it.

use std::sync::{Arc, Mutex};

use super::cell::CellVariant;
use super::choice;
use super::context::GpuContext;
use super::layers::LayerBuffers;
use super::pass::Plan;
use super::plan::Strategy;
use super::repack;
use super::scopes::Scopes;
use super::sequence::sequence_unsupported;
use super::slots::StepTable;
use super::wavefront::{wavefront_unsupported, WaveWeights};
use crate::config::RnnConfig;
use crate::error::Result;
use crate::resolve::Resolved;
use crate::Precision;

pub(crate) struct DeviceModel {
    pub ctx: GpuContext,
    pub config: RnnConfig,
    pub layers: Vec<LayerBuffers>,
    pub steps: StepTable,
    /// Another cell than PyTorch's (ONNX), for every layer.
    pub cell: Option<CellVariant>,
    /// How the weight matrices are stored (every kernel's module follows it).
    pub weights: Precision,
    /// Behind a lock: streams share the model and plan with its strategy of the moment.
    strategy: Mutex<Strategy>,
    /// Every layer's recurrent weights in one buffer, for [`Strategy::Wavefront`]; gathered
    /// on its first use.
    wave: Mutex<Option<Arc<WaveWeights>>>,
    /// Each layer's W_hh packed by unit, for [`Strategy::Sequence`]; packed on its first use.
    by_unit: Mutex<Option<Arc<Vec<wgpu::Buffer>>>>,
}

impl DeviceModel {
    pub(crate) fn new(
        ctx: &GpuContext,
        config: &RnnConfig,
        layers: Vec<LayerBuffers>,
        cell: Option<CellVariant>,
        weights: Precision,
    ) -> Self {
        DeviceModel {
            ctx: ctx.clone(),
            config: config.clone(),
            layers,
            steps: StepTable::default(),
            cell,
            weights,
            strategy: Mutex::new(Strategy::Auto),
            wave: Mutex::new(None),
            by_unit: Mutex::new(None),
        }
    }

    /// See [`GpuRnn::set_strategy`](super::GpuRnn::set_strategy).
    pub(crate) fn set_strategy(&self, strategy: Strategy) -> Result<()> {
        if self.reset_first() && matches!(strategy, Strategy::Sequence | Strategy::Wavefront) {
            return Err(crate::Error::Unsupported {
                what: format!("{strategy:?} for a GRU whose reset gate comes before the recurrent product (ONNX linear_before_reset = 0)"),
                reason: "only the per-step kernels compute the reset gates first; use Strategy::PerStep or Auto".to_string(),
            });
        }
        if strategy == Strategy::Sequence
            && choice::sequence_cut(&self.config, 1, self.ctx.profile(), self.weights).is_none()
        {
            return Err(sequence_unsupported(&self.config));
        }
        if strategy == Strategy::Wavefront {
            if let Some(err) = wavefront_unsupported(&self.config) {
                return Err(err);
            }
        }
        *self.strategy.lock().unwrap_or_else(|e| e.into_inner()) = strategy;
        Ok(())
    }

    /// A GRU cell whose reset gate comes first, which only the per-step kernels run.
    fn reset_first(&self) -> bool {
        self.cell.as_ref().is_some_and(|c| c.reset_first)
    }

    pub(crate) fn strategy(&self) -> Strategy {
        *self.strategy.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The strategy a pass over `batch` sequences uses, with `Auto` resolved.
    pub(crate) fn strategy_for(&self, batch: usize) -> Strategy {
        if self.reset_first() {
            return Strategy::PerStep;
        }
        choice::resolve(&self.config, batch, self.strategy(), self.ctx.profile())
    }

    /// Sizes and strategy of one pass, checked against the device.
    pub(crate) fn plan(&self, resolved: &Resolved) -> Result<Plan> {
        Plan::new(
            &self.ctx,
            &self.config,
            resolved,
            self.strategy_for(resolved.b),
            self.weights,
        )
    }

    /// The weights of every layer in one place, gathered on first use and kept.
    pub(crate) fn wave_weights(&self) -> Result<Arc<WaveWeights>> {
        let mut wave = self.wave.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(weights) = wave.as_ref() {
            return Ok(weights.clone());
        }
        let weights = Arc::new(WaveWeights::gather(
            &self.ctx,
            &self.config,
            &self.layers,
            self.weights,
        )?);
        *wave = Some(weights.clone());
        Ok(weights)
    }

    /// Layer `l`'s W_hh for the sequence kernel: the four uniform parts where `uniform`
    /// (the software profile's, uploaded with the model), else packed by unit in storage.
    pub(crate) fn sequence_weights(&self, l: usize, uniform: bool) -> Result<Vec<wgpu::Buffer>> {
        let missing = |what: &str| crate::Error::Gpu {
            operation: "binding the sequence kernel",
            message: format!("layer {l} has no W_hh {what}"),
        };
        if uniform {
            let parts = self.layers.get(l).and_then(|w| w.w_hh_parts.as_ref());
            return Ok(parts.ok_or_else(|| missing("in uniform parts"))?.to_vec());
        }
        let packed = self.by_unit_weights()?;
        Ok(vec![packed
            .get(l)
            .ok_or_else(|| missing("packed by unit"))?
            .clone()])
    }

    /// Each layer's W_hh packed by unit (`repack`), made from its rows on first use and kept.
    fn by_unit_weights(&self) -> Result<Arc<Vec<wgpu::Buffer>>> {
        let mut by_unit = self.by_unit.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(packed) = by_unit.as_ref() {
            return Ok(packed.clone());
        }
        let (ctx, config) = (&self.ctx, &self.config);
        let d = config.num_directions();
        let vec4s = repack::by_unit_vec4s(config, d);
        let floats = (vec4s * 4 * self.weights.bytes_per_weight() as u64 / 4) as usize;
        ctx.check_buffer(
            format!(
                "weight_hh (packed by unit for Strategy::Sequence{})",
                if d == 2 { ", both directions" } else { "" }
            ),
            floats as u64 * 4,
            "use Strategy::PerStep, or reduce hidden_size",
        )?;
        let device = &ctx.inner.device;
        let scopes = Scopes::push(device);
        let mut encoder = device.create_command_encoder(&Default::default());
        let mut packed = Vec::with_capacity(self.layers.len());
        for (l, layer) in self.layers.iter().enumerate() {
            let dst = ctx.scratch(&format!("weight_hh_l{l} packed by unit"), floats);
            repack::encode_pack(
                ctx,
                config,
                self.weights,
                d,
                &layer.w_hh_rows,
                (&dst, 0),
                &mut encoder,
            )?;
            packed.push(dst);
        }
        ctx.inner.queue.submit([encoder.finish()]);
        scopes.settle("packing W_hh by unit")?;
        let packed = Arc::new(packed);
        *by_unit = Some(packed.clone());
        Ok(packed)
    }

    /// Bytes of device memory the weights take now: as uploaded, and the copies made so far
    /// for the sequence kernel and the wavefront.
    pub(crate) fn weight_bytes(&self) -> u64 {
        let uploaded: u64 = self.layers.iter().map(|l| l.bytes()).sum();
        let by_unit: u64 = (self
            .by_unit
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter())
        .flat_map(|p| p.iter())
        .map(wgpu::Buffer::size)
        .sum();
        let wave = (self.wave.lock().unwrap_or_else(|e| e.into_inner()).iter())
            .map(|w| w.arena.size() + w.biases.size())
            .sum::<u64>();
        uploaded + by_unit + wave
    }
}
