package mailtest

import (
	"crypto/tls"
	"io"
	"net"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
)

// Sink is an SMTP server on 127.0.0.1 that takes every message and keeps
// none: the no-op reference a benchmark measures a real server against,
// sharing its TLS handshakes, commands and data transfer.
type Sink struct {
	Addr string
}

// StartSink starts a sink; with tlsConf non-nil it offers STARTTLS.
func StartSink(t testing.TB, tlsConf *tls.Config) *Sink {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listening: %v", err)
	}
	s := gosmtp.NewServer(gosmtp.BackendFunc(func(*gosmtp.Conn) (gosmtp.Session, error) { return sinkSession{}, nil }))
	s.Domain = "sink.test"
	s.TLSConfig = tlsConf
	s.ReadTimeout, s.WriteTimeout = 30*time.Second, 30*time.Second
	s.MaxMessageBytes = 64 << 20
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	return &Sink{Addr: ln.Addr().String()}
}

type sinkSession struct{}

func (sinkSession) Mail(string, *gosmtp.MailOptions) error { return nil }
func (sinkSession) Rcpt(string, *gosmtp.RcptOptions) error { return nil }
func (sinkSession) Data(r io.Reader) error {
	_, err := io.Copy(io.Discard, r)
	return err
}
func (sinkSession) Reset()        {}
func (sinkSession) Logout() error { return nil }
