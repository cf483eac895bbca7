package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/authsmtp/authsmtp/internal/testutil"
)

// leafConfig verifies the server's chain against roots for name and
// stores the leaf it presented.
func leafConfig(name string, roots *x509.CertPool, leaf **x509.Certificate) *tls.Config {
	return &tls.Config{ServerName: name, RootCAs: roots, VerifyConnection: func(cs tls.ConnectionState) error {
		*leaf = cs.PeerCertificates[0]
		return nil
	}}
}

// tlsLeaf is the certificate a listener of service presents for name,
// verified against roots: STARTTLS on SMTP and IMAP, a handshake at once
// on the implicit-TLS ports.
func tlsLeaf(service, addr, name string, roots *x509.CertPool) (*x509.Certificate, error) {
	var leaf *x509.Certificate
	cfg := leafConfig(name, roots, &leaf)
	switch service {
	case "submission", "mx":
		c, err := gosmtp.DialStartTLS(addr, cfg)
		if err != nil {
			return nil, err
		}
		err = c.Noop() // the handshake runs with the first command after STARTTLS
		c.Close()
		if err != nil {
			return nil, err
		}
	case "imap":
		c, err := imapclient.DialStartTLS(addr, &imapclient.Options{TLSConfig: cfg})
		if err != nil {
			return nil, err
		}
		c.Close()
	default:
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, cfg)
		if err != nil {
			return nil, err
		}
		c.Close()
	}
	if leaf == nil {
		return nil, errors.New("no certificate presented")
	}
	return leaf, nil
}

// TestClusterACMEOneOrderEveryNodeServes: three nodes started with the
// binary's ACME flags, sharing one --hostname, against one Pebble. One
// node wins the certificate lock in the database and orders (node 1, up
// first, as a rule); Pebble validates HTTP-01 on node 3's --http port,
// which answers from the database whichever node ordered (a load balancer
// may send the CA to any node). Pebble sees exactly one order, and
// every node serves that certificate, chained to Pebble's root, on each
// of its TLS listeners.
func TestClusterACMEOneOrderEveryNodeServes(t *testing.T) {
	const host = "mail.cluster.test"
	p := testutil.StartPebble(t, 0) // holds requests until Validate
	root := filepath.Join(t.TempDir(), "pebble-https.pem")
	if err := os.WriteFile(root, p.TLSPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	c := newPGCluster(t, 3, nil, "--hostname", host, "--tls", "acme", "--acme-ca", p.URL, "--acme-ca-root", root,
		"--acme-email", "postmaster@"+clDomain, "--http", "127.0.0.1:0", "--imaps", "127.0.0.1:0", "--mx", "127.0.0.1:0")
	_, port, _ := net.SplitHostPort(c.nodes[2].addr("http"))
	httpPort, _ := strconv.Atoi(port)
	start := time.Now()
	p.Validate(httpPort, testutil.ClosedPort(t))

	// Wait until every node serves a certificate from Pebble.
	deadline := start.Add(testutil.Scaled(40 * time.Second))
	for i, n := range c.nodes {
		for {
			_, err := tlsLeaf("submissions", n.addr("submissions"), host, p.Roots)
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("node %d serves no certificate from Pebble %v after Pebble started: %v\n%s",
					i+1, time.Since(start), err, n.logs())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	t.Logf("all three nodes serve Pebble's certificate %v after Pebble started", time.Since(start).Round(time.Millisecond))

	var serial *x509.Certificate
	for i, n := range c.nodes {
		for _, svc := range []string{"submission", "submissions", "mx", "imap", "imaps"} {
			leaf, err := tlsLeaf(svc, n.addr(svc), host, p.Roots)
			if err != nil {
				t.Errorf("node %d %s: %v", i+1, svc, err)
				continue
			}
			if serial == nil {
				serial = leaf
			} else if leaf.SerialNumber.Cmp(serial.SerialNumber) != 0 {
				t.Errorf("node %d %s serves serial %v, want the cluster's one %v", i+1, svc, leaf.SerialNumber, serial.SerialNumber)
			}
		}
	}
	// A late order would show now: let the nodes settle a moment.
	time.Sleep(time.Second)
	if n := p.Orders.Load(); n != 1 {
		t.Errorf("Pebble saw %d orders, want 1 for the cluster", n)
	}
	// The nodes' own account agrees: one of them obtained it.
	var obtainers []int
	for i, n := range c.nodes {
		obtainers = append(obtainers, i+1)
		if k := strings.Count(n.logs(), `msg="obtained a certificate"`); k == 0 {
			obtainers = obtainers[:len(obtainers)-1]
		} else if k > 1 {
			t.Errorf("node %d obtained %d certificates", i+1, k)
		}
	}
	if len(obtainers) != 1 {
		t.Errorf("nodes %v logged obtaining a certificate, want exactly one", obtainers)
	}
	t.Logf("Pebble saw %d order(s); node %v obtained the certificate (Pebble validated on node 3); every node serves serial %v issued by %q",
		p.Orders.Load(), obtainers, serial.SerialNumber, serial.Issuer.CommonName)
}
