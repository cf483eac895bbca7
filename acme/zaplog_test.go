package acme

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"go.uber.org/zap"
)

// TestZapToSlog: certmagic's zap lines reach our logger at debug level
// with their fields, and cost nothing when debug is off.
func TestZapToSlog(t *testing.T) {
	var buf bytes.Buffer
	l := zapToSlog(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	l.With(zap.String("identifier", "a.test")).Error("obtaining certificate", zap.Int("attempt", 2))
	out := buf.String()
	for _, want := range []string{"level=DEBUG", `msg="obtaining certificate"`, "component=certmagic", "certmagic_level=error", "identifier=a.test", "attempt=2"} {
		if !strings.Contains(out, want) {
			t.Errorf("log line lacks %s: %s", want, out)
		}
	}
	buf.Reset()
	quiet := zapToSlog(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})))
	if ce := quiet.Check(zap.ErrorLevel, "x"); ce != nil {
		t.Error("zap entry built although debug is off")
	}
	quiet.Error("hidden")
	if buf.Len() != 0 {
		t.Errorf("logged at info level: %s", buf.String())
	}
}
