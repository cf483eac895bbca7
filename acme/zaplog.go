package acme

import (
	"context"
	"log/slog"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// zapToSlog sends certmagic's zap logs to our slog logger at debug level:
// certmagic is chatty, and the lines an operator needs (obtained, failed
// and why) are logged by this package from certmagic's events instead.
func zapToSlog(l *slog.Logger) *zap.Logger {
	return zap.New(&slogCore{l: l.With("component", "certmagic")})
}

type slogCore struct {
	l      *slog.Logger
	fields []zapcore.Field
}

var _ zapcore.Core = (*slogCore)(nil)

func (c *slogCore) Enabled(zapcore.Level) bool {
	return c.l.Enabled(context.Background(), slog.LevelDebug)
}

func (c *slogCore) With(fs []zapcore.Field) zapcore.Core {
	return &slogCore{l: c.l, fields: append(append([]zapcore.Field(nil), c.fields...), fs...)}
}

func (c *slogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *slogCore) Write(e zapcore.Entry, fs []zapcore.Field) error {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range c.fields {
		f.AddTo(enc)
	}
	for _, f := range fs {
		f.AddTo(enc)
	}
	args := make([]any, 0, 2*len(enc.Fields)+2)
	args = append(args, "certmagic_level", e.Level.String())
	for k, v := range enc.Fields {
		args = append(args, k, v)
	}
	c.l.Debug(e.Message, args...)
	return nil
}

func (c *slogCore) Sync() error { return nil }
