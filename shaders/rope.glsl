// RoPE (spec §2.7): a pair (x[2i], x[2i + 1]) of a head rotated by the angle
// whose (cos, sin) the host's table holds for (position, i); the same angle as
// rope() in model/reference.cpp.
vec2 rotate(vec2 pair, vec2 cos_sin) {
    return vec2(pair.x * cos_sin.x - pair.y * cos_sin.y, pair.x * cos_sin.y + pair.y * cos_sin.x);
}
