package queue

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"strings"

	"github.com/authsmtp/authsmtp/smtp/dane"
	"github.com/authsmtp/authsmtp/store"
)

// TLS reporting (RFC 8460): every connection to an MX (not to a relay)
// ends as one session result — success, or a failure of a TLSRPT result
// type — under the policy that applied: DANE ("tlsa"), MTA-STS ("sts") or
// none ("no-policy-found"). Config.TLSResults receives them; the
// smtp/tlsrpt package adds them up and mails the daily reports.

// reportTLS hands one result to Config.TLSResults, if set.
func (r *Runner) reportTLS(res store.TLSResult) {
	if r.cfg.TLSResults != nil {
		r.cfg.TLSResults(res)
	}
}

// sessionResult reports how the TLS part of a connection to t ended:
// err is the first dial's error (a TLS failure, even if a plaintext
// retry then worked), c the connection in the end (nil if none); stsTest is the
// verification failure an MTA-STS policy in testing mode would have had.
func (r *Runner) sessionResult(t target, addr string, c *client, err error, stsTest error) {
	if t.relay || r.cfg.TLSResults == nil {
		return
	}
	res := store.TLSResult{Domain: t.dest, PolicyType: "no-policy-found", MXHost: t.name}
	res.ReceivingIP, _, _ = net.SplitHostPort(addr)
	switch {
	case t.dane.applies:
		res.PolicyType = "tlsa"
		for _, rec := range t.dane.all {
			res.PolicyStrings = append(res.PolicyStrings, rec.String())
		}
		res.PolicyMX = []string{t.name}
	case t.sts != nil:
		res.PolicyType = "sts"
		res.PolicyStrings = strings.Split(strings.TrimSuffix(t.sts.Text(), "\r\n"), "\r\n")
		res.PolicyMX = t.sts.MX
	}
	switch {
	case err != nil:
		if !errors.Is(err, errTLS) && !errors.Is(err, errNoSTARTTLS) {
			return // never got as far as TLS: not a TLS session
		}
		res.Result = resultType(err)
	case c != nil && !c.tls:
		res.Result = "starttls-not-supported"
	case t.dane.applies && len(t.dane.usable) == 0:
		// Delivered encrypted, but none of the records could authenticate
		// the server (RFC 8460 §4.3.2.1).
		res.Result = "tlsa-invalid"
	case stsTest != nil:
		res.Result = resultType(stsTest)
	}
	var ce *connError
	switch {
	case errors.As(err, &ce):
		res.SendingIP, _, _ = net.SplitHostPort(ce.local)
	case c != nil:
		res.SendingIP, _, _ = net.SplitHostPort(c.conn.LocalAddr().String())
	}
	r.reportTLS(res)
}

// resultType names a TLS failure as RFC 8460 §4.3 does.
func resultType(err error) string {
	var de *dane.Error
	var host x509.HostnameError
	var inv x509.CertificateInvalidError
	var unknown x509.UnknownAuthorityError
	var verr *tls.CertificateVerificationError
	switch {
	case errors.Is(err, errNoSTARTTLS):
		return "starttls-not-supported"
	case errors.As(err, &de):
		return de.Result
	case errors.As(err, &host):
		return "certificate-host-mismatch"
	case errors.As(err, &inv) && inv.Reason == x509.Expired:
		return "certificate-expired"
	case errors.As(err, &unknown):
		return "certificate-not-trusted"
	case errors.As(err, &verr):
		return "certificate-not-trusted"
	}
	return "validation-failure"
}

// stsTestingTLS is the opportunistic TLS configuration for a host under an
// MTA-STS policy in testing mode: the certificate is checked as enforce
// would, the outcome noted in *failed for the report, and never enforced.
func stsTestingTLS(t target, roots *x509.CertPool, failed *error) *tls.Config {
	return &tls.Config{
		ServerName:         t.name,
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, // testing mode: delivery does not depend on the check
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return nil
			}
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{DNSName: t.name, Roots: roots, Intermediates: inter})
			if err == nil && !t.sts.Matches(t.name) {
				err = errors.New("the MX host is not in the MTA-STS policy")
			}
			*failed = err
			return nil
		},
	}
}
