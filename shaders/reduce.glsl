// Reductions over a workgroup: each subgroup reduces its own values first, so
// the workgroup waits at two barriers instead of a tree's log2(WG) (a CPU
// driver runs each barrier as a switch between every subgroup of the
// workgroup). Every invocation must call them, and every one gets the result.
// Needs WG (the workgroup size) defined before it is included.
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require

shared float reduce_value[WG];  // one per subgroup (at most WG of them)
shared uint reduce_index[WG];

float workgroup_max(float value) {
    const float mine = subgroupMax(value);
    if (subgroupElect()) reduce_value[gl_SubgroupID] = mine;
    barrier();
    float result = reduce_value[0];
    for (uint i = 1; i < gl_NumSubgroups; i++) result = max(result, reduce_value[i]);
    barrier();
    return result;
}

// Sums in a fixed order: within each subgroup, then subgroup 0, 1, ...
float workgroup_sum(float value) {
    const float mine = subgroupAdd(value);
    if (subgroupElect()) reduce_value[gl_SubgroupID] = mine;
    barrier();
    float result = reduce_value[0];
    for (uint i = 1; i < gl_NumSubgroups; i++) result += reduce_value[i];
    barrier();
    return result;
}

// The index of the smallest value, the smallest index among equal values;
// invocations with nothing to offer pass (+inf, 0xffffffff).
uint workgroup_argmin(float value, uint index) {
    const float best = subgroupMin(value);
    const uint mine = subgroupMin(value == best ? index : 0xffffffffu);
    if (subgroupElect()) {
        reduce_value[gl_SubgroupID] = best;
        reduce_index[gl_SubgroupID] = mine;
    }
    barrier();
    float v = reduce_value[0];
    uint result = reduce_index[0];
    for (uint i = 1; i < gl_NumSubgroups; i++) {
        if (reduce_value[i] < v || (reduce_value[i] == v && reduce_index[i] < result)) {
            v = reduce_value[i];
            result = reduce_index[i];
        }
    }
    barrier();
    return result;
}
