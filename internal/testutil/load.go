package testutil

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// LoadFactor is how much busier than "one runnable task per core" the
// machine is right now (the 1-minute load average over the CPU count),
// at least 1 and at most 8 (a bound stretched further would say
// nothing). Latency bounds of end-to-end tests multiply by it, so a bound
// that holds on an idle machine still holds on a shared, loaded one; the
// measured figure is logged either way.
func LoadFactor() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 1
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 1
	}
	load, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return 1
	}
	return min(max(load/float64(runtime.NumCPU()), 1), 8)
}

// Scaled is d times LoadFactor.
func Scaled(d time.Duration) time.Duration {
	return time.Duration(float64(d) * LoadFactor())
}
