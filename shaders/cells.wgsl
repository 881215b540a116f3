// The cell math of every kind, shared by the per-step kernels (recurrent.wgsl) and the
// sequence kernel (sequence.wgsl), in PyTorch's gate order. `x` is a unit's input projection
// (b_ih included), `hidden` its W_hh h_{t-1} + b_hh.

// GRU: h_t from the r, z and n gates and h_{t-1}.
fn gru_cell(x: vec4<f32>, hidden: vec4<f32>, h_prev: f32) -> f32 {
    let r = sigmoid(x.x + hidden.x);
    let z = sigmoid(x.y + hidden.y);
    let n = tanh_safe(x.z + r * hidden.z);
    return (1.0 - z) * n + z * h_prev;
}

// LSTM: (c_t, o * tanh(c_t)) from the i, f, g and o pre-activations and c_{t-1}.
fn lstm_cell(pre: vec4<f32>, c_prev: f32) -> vec2<f32> {
    let c = sigmoid(pre.y) * c_prev + sigmoid(pre.x) * tanh_safe(pre.z);
    return vec2<f32>(c, sigmoid(pre.w) * tanh_safe(c));
}

// Elman RNN: tanh, or relu where the layer says so.
fn rnn_cell(pre: f32) -> f32 {
    if (layer.relu == 1u) {
        return select(pre, 0.0, pre < 0.0); // not max(): max(NaN, 0) is 0
    }
    return tanh_safe(pre);
}
