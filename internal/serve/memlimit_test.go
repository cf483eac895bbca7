package serve

import (
	"math"
	"testing"

	"github.com/authsmtp/authsmtp/internal/config"
	"github.com/authsmtp/authsmtp/smtp/smtpd"
)

func TestMemoryLimit(t *testing.T) {
	def := config.Default()
	for _, c := range []struct {
		name     string
		limit    int64
		inflight int64
		want     int64
	}{
		{"default: 64 MiB over the default budget", 0, 0, 64<<20 + smtpd.DefaultInFlight(def.MaxSize)},
		{"default: 64 MiB over --max-inflight", 0, 100 << 20, 164 << 20},
		{"--memory-limit in MiB", 48, 100 << 20, 48 << 20},
		{"-1: none", -1, 0, math.MaxInt64},
	} {
		cfg := def
		cfg.MemoryLimit, cfg.MaxInflight = c.limit, c.inflight
		if got := memoryLimit(cfg); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
}
