package mailtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"
)

// Received is one message a Receiver accepted.
type Received struct {
	From  string
	Rcpts []string
	Data  []byte
	TLS   bool
	Auth  string // login, if the client authenticated
	Helo  string // the client's EHLO name
}

// Receiver is a scriptable SMTP server on 127.0.0.1 for delivery tests.
// Its hooks decide replies; nil hooks accept everything.
type Receiver struct {
	Addr string
	Port int

	// OnRcpt may refuse a recipient (return a *gosmtp.SMTPError).
	OnRcpt func(to string) error
	// OnData may refuse a message; n counts DATA commands so far (from 1).
	OnData func(n int, r *Received) error
	// AuthUser/AuthPass, when set, enable AUTH PLAIN (after TLS only).
	AuthUser, AuthPass string

	mu       sync.Mutex
	msgs     []Received
	datas    int
	conns    int
	maxConc  int
	curConns int
	notify   chan struct{}
	srv      *gosmtp.Server
}

// StartReceiver starts a receiver; with tlsConf non-nil it offers STARTTLS.
// Hooks must be set before the first connection.
func StartReceiver(t testing.TB, tlsConf *tls.Config) *Receiver {
	t.Helper()
	r := &Receiver{notify: make(chan struct{}, 1)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listening: %v", err)
	}
	r.Addr = ln.Addr().String()
	r.Port = ln.Addr().(*net.TCPAddr).Port
	s := gosmtp.NewServer(gosmtp.BackendFunc(func(c *gosmtp.Conn) (gosmtp.Session, error) {
		return &rsession{r: r, c: c}, nil
	}))
	s.Domain = "receiver.test"
	s.TLSConfig = tlsConf
	s.ReadTimeout = 30 * time.Second
	s.WriteTimeout = 30 * time.Second
	r.srv = s
	go s.Serve(&countingListener{Listener: ln, r: r})
	t.Cleanup(func() { s.Close() })
	return r
}

type countingListener struct {
	net.Listener
	r *Receiver
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.r.mu.Lock()
		l.r.conns++
		l.r.curConns++
		l.r.maxConc = max(l.r.maxConc, l.r.curConns)
		l.r.mu.Unlock()
		c = &countedConn{Conn: c, r: l.r}
	}
	return c, err
}

type countedConn struct {
	net.Conn
	r    *Receiver
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() {
		c.r.mu.Lock()
		c.r.curConns--
		c.r.mu.Unlock()
	})
	return c.Conn.Close()
}

// Messages returns what was accepted so far.
func (r *Receiver) Messages() []Received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Received(nil), r.msgs...)
}

// Stats returns connections seen, the most open at once, and DATA commands.
func (r *Receiver) Stats() (conns, maxConcurrent, datas int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.conns, r.maxConc, r.datas
}

// Wait returns a channel that gets a value after each accepted message.
func (r *Receiver) Wait() <-chan struct{} { return r.notify }

type rsession struct {
	r     *Receiver
	c     *gosmtp.Conn
	m     Received
	login string
}

func (s *rsession) AuthMechanisms() []string {
	if s.r.AuthUser == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *rsession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if _, tls := s.c.TLSConnectionState(); !tls {
			return errors.New("TLS first")
		}
		if username != s.r.AuthUser || password != s.r.AuthPass {
			return gosmtp.ErrAuthFailed
		}
		s.login = username
		return nil
	}), nil
}

func (s *rsession) Mail(from string, _ *gosmtp.MailOptions) error {
	if s.r.AuthUser != "" && s.login == "" {
		return gosmtp.ErrAuthRequired
	}
	s.m = Received{From: from, Auth: s.login}
	return nil
}

func (s *rsession) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	if s.r.OnRcpt != nil {
		if err := s.r.OnRcpt(to); err != nil {
			return err
		}
	}
	s.m.Rcpts = append(s.m.Rcpts, to)
	return nil
}

func (s *rsession) Data(rd io.Reader) error {
	b, err := io.ReadAll(rd)
	if err != nil {
		return err
	}
	s.m.Data = b
	s.m.Helo = s.c.Hostname()
	_, s.m.TLS = s.c.TLSConnectionState()
	s.r.mu.Lock()
	s.r.datas++
	n := s.r.datas
	s.r.mu.Unlock()
	if s.r.OnData != nil {
		if err := s.r.OnData(n, &s.m); err != nil {
			return err
		}
	}
	s.r.mu.Lock()
	s.r.msgs = append(s.r.msgs, s.m)
	s.r.mu.Unlock()
	select {
	case s.r.notify <- struct{}{}:
	default:
	}
	return nil
}

func (s *rsession) Reset()        { s.m = Received{} }
func (s *rsession) Logout() error { return nil }

// SelfSigned returns a server TLS config for names and a pool trusting it.
func SelfSigned(t testing.TB, names ...string) (*tls.Config, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: names[0]},
		DNSNames:     names,
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, pool
}
