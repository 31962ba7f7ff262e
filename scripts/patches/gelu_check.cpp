// Stand-alone check of scripts/patches/ggml-exact-gelu.patch (run by check-exact-gelu.sh).
#include "vec.h"
#include <cmath>
#include <cstdio>
// the patched kernels against double-precision GELU (tanh form); exit 1 past the tolerance
int main() {
    const int n = 24011;
    static float x[n], y[n], y2[n], g[n];
    for (int i = 0; i < n; ++i) { x[i] = -12.0f + 24.0f * i / (n - 1); g[i] = 0.5f + (i % 7) * 0.25f; }
    x[0] = -1e4f; x[1] = 1e4f; x[2] = -88.5f; x[3] = 88.5f; x[4] = 0.0f;
    ggml_vec_gelu_f32(n, y, x);
    ggml_vec_geglu_f32(n, y2, x, g);
    double worst = 0, worst2 = 0;
    for (int i = 0; i < n; ++i) {
        double xd = x[i];
        double ref = xd / (1.0 + std::exp(-2.0 * std::sqrt(2.0 / M_PI) * (xd + 0.044715 * xd * xd * xd)));
        double tol = 2e-6 + 1e-6 * std::fabs(ref);
        worst = std::fmax(worst, std::fabs(y[i] - ref) / tol);
        worst2 = std::fmax(worst2, std::fabs(y2[i] - ref * g[i]) / (tol * g[i]));
    }
    std::printf("worst err / tol: gelu %.3f geglu %.3f\n", worst, worst2);
    return worst <= 1.0 && worst2 <= 1.0 ? 0 : 1;
}
