// The dense kernels' src and weight in storage buffers: any size, every device.

@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<vec4<f32>>;

fn src_at(i: u32) -> f32 {
    return src[i];
}

fn weight_at(i: u32) -> vec4<f32> {
    return weight[i];
}
