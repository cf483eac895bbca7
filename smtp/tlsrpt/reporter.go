package tlsrpt

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/authsmtp/authsmtp/smtp/dnsx"
	"github.com/authsmtp/authsmtp/smtp/reportmail"
	"github.com/authsmtp/authsmtp/store"
	"github.com/authsmtp/authsmtp/store/reports"
)

// Store is what reporting needs of the store (*store.Store implements
// it, guarded in the tests).
type Store interface {
	// ClaimDay says whether this node sends the day\'s reports.
	ClaimDay(job, day string) (bool, error)
	AddTLSResults(day time.Time, results []store.TLSResult) error
	TLSDays(before time.Time) ([]store.TLSDay, error)
	DeleteTLSDay(day, domain string) error
	ListDomains() ([]store.Domain, error)
	Accept(in *store.Incoming) (*store.Accepted, error)
}

// Resolver looks up _smtp._tls records and the hosts of https: report
// URLs (*dnsx.Resolver).
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
}

// Signer DKIM-signs a message for its From: domain (*dkim.Signer).
type Signer interface {
	Sign(msg []byte) ([]byte, error)
}

// Config sets up a Reporter; Store, Resolver, Signer and Hostname are
// required.
type Config struct {
	Store    Store
	Resolver Resolver
	Signer   Signer
	// Hostname is the submitter (organization-name, TLS-Report-Submitter).
	Hostname string
	Logger   *slog.Logger
	// HTTPTimeout bounds one report's POST to an https: rua (30s).
	HTTPTimeout time.Duration
	// RootCAs verify the certificates of https: rua servers (nil: the
	// system's).
	RootCAs *x509.CertPool
	// PrivateHTTPS lets https: reports go to loopback and private
	// addresses (tests only: a domain's DNS chooses the URL).
	PrivateHTTPS bool
}

// Reporter adds up session results and sends the daily reports.
type Reporter struct {
	cfg Config
	log *slog.Logger

	mu      sync.Mutex
	pending map[string]map[resultKey]int64 // UTC day → result → sessions
}

// resultKey is a store.TLSResult without its count, usable as a map key.
type resultKey struct {
	domain, ptype, pstrings, pmx, result, mx, sip, rip string
}

// New checks cfg and makes a Reporter.
func New(cfg Config) (*Reporter, error) {
	if cfg.Store == nil || cfg.Resolver == nil || cfg.Signer == nil || cfg.Hostname == "" {
		return nil, errors.New("tlsrpt: Store, Resolver, Signer and Hostname are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.HTTPTimeout <= 0 {
		cfg.HTTPTimeout = defaultHTTPTimeout
	}
	return &Reporter{cfg: cfg, log: cfg.Logger, pending: map[string]map[resultKey]int64{}}, nil
}

// Record counts one result (queue.Config.TLSResults); it only touches
// memory. Flush writes what was counted to the store.
func (r *Reporter) Record(res store.TLSResult) {
	if res.Domain == "" {
		return
	}
	n := res.Count
	if n == 0 {
		n = 1
	}
	k := resultKey{strings.ToLower(res.Domain), res.PolicyType, strings.Join(res.PolicyStrings, "\n"), strings.Join(res.PolicyMX, "\n"),
		res.Result, res.MXHost, res.SendingIP, res.ReceivingIP}
	day := time.Now().UTC().Format(time.DateOnly)
	r.mu.Lock()
	m := r.pending[day]
	if m == nil {
		m = map[resultKey]int64{}
		r.pending[day] = m
	}
	m[k] += n
	r.mu.Unlock()
}

// Flush adds the counted results to the store, one transaction per day.
func (r *Reporter) Flush() error {
	r.mu.Lock()
	pending := r.pending
	r.pending = map[string]map[resultKey]int64{}
	r.mu.Unlock()
	var errs []error
	for day, m := range pending {
		t, _ := time.Parse(time.DateOnly, day)
		var rs []store.TLSResult
		for k, n := range m {
			rs = append(rs, store.TLSResult{Domain: k.domain, PolicyType: k.ptype, PolicyStrings: split(k.pstrings), PolicyMX: split(k.pmx),
				Result: k.result, MXHost: k.mx, SendingIP: k.sip, ReceivingIP: k.rip, Count: n})
		}
		sort.Slice(rs, func(i, j int) bool { return rs[i].Domain < rs[j].Domain })
		if err := r.cfg.Store.AddTLSResults(t, rs); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func split(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// SendDue flushes, then sends a report for every recorded day before the
// day of before (UTC) whose domain publishes a rua (mailed through the
// queue, POSTed to https:), and forgets the day. It returns how many
// reports went to at least one destination.
func (r *Reporter) SendDue(ctx context.Context, before time.Time) (int, error) {
	if err := r.Flush(); err != nil {
		return 0, err
	}
	days, err := r.cfg.Store.TLSDays(before)
	if err != nil {
		return 0, err
	}
	from, err := r.reportingAddress()
	if err != nil {
		return 0, err
	}
	sent := 0
	for _, d := range days {
		if ctx.Err() != nil {
			return sent, ctx.Err()
		}
		lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		txts, err := r.cfg.Resolver.LookupTXT(lctx, "_smtp._tls."+d.Domain)
		cancel()
		rua := RUA(txts)
		if err != nil && rua.None() && !dnsx.IsNotFound(err) {
			r.log.Info("TLS report: _smtp._tls lookup failed; trying again later", "domain", d.Domain, "day", d.Day, "err", err)
			continue
		}
		if !rua.None() {
			ok, err := r.send(ctx, d, from, rua)
			if err != nil {
				return sent, err
			}
			if ok {
				sent++
			}
		}
		if err := r.cfg.Store.DeleteTLSDay(d.Day, d.Domain); err != nil {
			return sent, err
		}
	}
	return sent, nil
}

// send mails the day's report to rua's addresses and POSTs it to its
// URLs; ok says one of them took it. A failed POST is logged, not
// returned: the other destinations still get theirs.
func (r *Reporter) send(ctx context.Context, d store.TLSDay, from string, rua Destinations) (ok bool, err error) {
	rep, err := Build(d, r.cfg.Hostname, from)
	if err != nil {
		return false, err
	}
	gz, err := reports.GzipTLSRPT(rep)
	if err != nil {
		return false, err
	}
	if len(rua.Mail) > 0 {
		msg, err := r.message(d, from, rua.Mail, rep, gz)
		if err != nil {
			return false, err
		}
		acc, err := r.cfg.Store.Accept(&store.Incoming{From: from, Remote: rua.Mail, Body: msg, Subject: "TLS report " + d.Domain + " " + d.Day})
		if err != nil {
			return false, fmt.Errorf("queueing the TLS report for %s: %w", d.Domain, err)
		}
		ok = true
		r.log.Info("TLS report queued", "domain", d.Domain, "day", d.Day, "rua", strings.Join(rua.Mail, ","), "queued", acc.QueueID)
	}
	for _, u := range rua.HTTPS {
		if err := r.post(ctx, u, gz); err != nil {
			r.log.Warn("TLS report: HTTPS POST failed", "domain", d.Domain, "day", d.Day, "rua", store.SanitizeLog(u), "err", store.SanitizeLog(err.Error()))
			continue
		}
		ok = true
		r.log.Info("TLS report posted", "domain", d.Domain, "day", d.Day, "rua", store.SanitizeLog(u))
	}
	return ok, nil
}

// reportingAddress is postmaster@ of the hosted domain the reports come
// from: the domain of --hostname (or a parent of it) if hosted, else the
// first hosted domain. Its DKIM key signs them.
func (r *Reporter) reportingAddress() (string, error) {
	doms, err := r.cfg.Store.ListDomains()
	if err != nil {
		return "", err
	}
	if len(doms) == 0 {
		return "", errors.New("tlsrpt: no hosted domain to send reports from")
	}
	hosted := map[string]bool{}
	names := make([]string, 0, len(doms))
	for _, d := range doms {
		hosted[d.Name] = true
		names = append(names, d.Name)
	}
	h := strings.ToLower(strings.TrimSuffix(r.cfg.Hostname, "."))
	for h != "" {
		if hosted[h] {
			return "postmaster@" + h, nil
		}
		_, rest, ok := strings.Cut(h, ".")
		if !ok {
			break
		}
		h = rest
	}
	sort.Strings(names)
	return "postmaster@" + names[0], nil
}

// message is the report mail (RFC 8460 §5.3): multipart/report with
// report-type tlsrpt, a short text and the gzipped JSON, DKIM-signed.
func (r *Reporter) message(d store.TLSDay, from string, rua []string, rep *reports.TLSReport, gz []byte) ([]byte, error) {
	msg := reportmail.Build(reportmail.Message{
		From: from, FromName: "TLS reports", To: rua, Host: r.cfg.Hostname,
		Subject:    fmt.Sprintf("Report Domain: %s Submitter: %s Report-ID: <%s>", d.Domain, r.cfg.Hostname, rep.ReportID),
		Type:       `multipart/report; report-type="tlsrpt"`,
		Header:     [][2]string{{"TLS-Report-Domain", d.Domain}, {"TLS-Report-Submitter", r.cfg.Hostname}},
		Text:       fmt.Sprintf("This is an aggregate TLS report (RFC 8460) from %s about mail to %s on %s.", r.cfg.Hostname, d.Domain, d.Day),
		Attachment: gz, AttachmentType: "application/tlsrpt+gzip",
		AttachmentName: fmt.Sprintf("%s!%s!%d!%d!%s.json.gz", r.cfg.Hostname, d.Domain, rep.DateRange.Start.Unix(), rep.DateRange.End.Unix(), reportmail.RandomID()),
	}, time.Now())
	return r.cfg.Signer.Sign(msg)
}

// Run flushes the counts every minute and sends the reports of past days
// shortly after each UTC midnight (and at start), until ctx ends; then it
// flushes once more. One node of a cluster sends them.
func (r *Reporter) Run(ctx context.Context) {
	flush := func() {
		if err := r.Flush(); err != nil {
			r.log.Error("saving TLS results", "err", err)
		}
	}
	reportmail.Daily{Job: "tls-reports", What: "TLS reports", Claim: r.cfg.Store.ClaimDay, Send: r.SendDue,
		Every: time.Minute, Tick: flush, Done: flush, Log: r.log}.Run(ctx)
}
