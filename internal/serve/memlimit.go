package serve

import (
	"log/slog"
	"math"
	"os"
	"runtime/debug"

	"github.com/authsmtp/authsmtp/internal/config"
	"github.com/authsmtp/authsmtp/smtp/smtpd"
)

// memoryLimit is the soft memory limit --memory-limit asks for, in
// bytes (math.MaxInt64: none). By default it is the in-flight message
// budget (the most message data the server may hold) plus 64 MiB for
// everything else: what a busy server legitimately holds, so the
// collector only works harder when memory goes beyond that.
func memoryLimit(c config.Config) int64 {
	switch {
	case c.MemoryLimit < 0:
		return math.MaxInt64
	case c.MemoryLimit > 0:
		return c.MemoryLimit << 20
	}
	inflight := c.MaxInflight
	if inflight <= 0 {
		inflight = smtpd.DefaultInFlight(c.MaxSize)
	}
	return 64<<20 + inflight
}

// setMemoryLimit applies memoryLimit, unless GOMEMLIMIT is set (the Go
// runtime has applied it already).
func setMemoryLimit(c config.Config, log *slog.Logger) {
	if v, ok := os.LookupEnv("GOMEMLIMIT"); ok {
		log.Info("memory limit from GOMEMLIMIT", "value", v)
		return
	}
	debug.SetMemoryLimit(memoryLimit(c))
}
