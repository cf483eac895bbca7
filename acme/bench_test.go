package acme

import (
	"crypto/tls"
	"testing"
	"time"

	"github.com/authsmtp/authsmtp/internal/testutil"
)

// BenchmarkGetCertificate measures what each handshake pays for the
// certificate lookup in each mode (files mode stats two files).
func BenchmarkGetCertificate(b *testing.B) {
	dir := b.TempDir()
	st := testutil.Store(b)
	raw, _ := makeSelfSigned("bench.authsmtp.test", time.Now(), 90*24*time.Hour)
	certFile, keyFile := dir+"/c.pem", dir+"/k.pem"
	writeSplit(b, raw, certFile, keyFile)
	for _, cfg := range []Config{
		{Mode: ModeSelfSigned, Hostname: "bench.authsmtp.test"},
		{Mode: ModeFiles, Hostname: "bench.authsmtp.test", CertFile: certFile, KeyFile: keyFile},
	} {
		cfg.Logger = testutil.Logger(b)
		m, err := New(cfg, st)
		if err != nil {
			b.Fatal(err)
		}
		hello := &tls.ClientHelloInfo{ServerName: "bench.authsmtp.test"}
		b.Run(cfg.Mode, func(b *testing.B) {
			for b.Loop() {
				if _, err := m.GetCertificate(hello); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
