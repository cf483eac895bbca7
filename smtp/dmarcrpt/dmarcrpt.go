// Package dmarcrpt sends DMARC aggregate reports (RFC 7489 §7.2) about
// inbound mail: the MX hands it each evaluation of an author domain that
// publishes rua= (mx.Config.DMARCEvals), the store keeps them per day and
// policy domain (bucket dmarcout), and once a day each such domain's
// report of the day before is built (XML, gzip), checked against the
// external destination rule of §7.1, DKIM-signed with the key of the
// hosted domain of the reporting address, and queued like any mail.
package dmarcrpt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sort"
	"strings"
	"time"

	"golang.org/x/net/publicsuffix"

	"github.com/authsmtp/authsmtp/smtp/dnsx"
	"github.com/authsmtp/authsmtp/store"
	"github.com/authsmtp/authsmtp/store/reports"
)

// Store is what reporting needs of the store (*store.Store implements
// it, guarded in the tests).
type Store interface {
	// ClaimDay says whether this node sends the day\'s reports.
	ClaimDay(job, day string) (bool, error)
	AddDMARCEval(t time.Time, ev store.DMARCEval) error
	DMARCDays(before time.Time) ([]store.DMARCDay, error)
	DeleteDMARCDay(day, domain string) error
	IsHosted(domain string) bool
	Accept(in *store.Incoming) (*store.Accepted, error)
}

// Resolver looks up the external destination records (*dnsx.Resolver).
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
}

// Signer DKIM-signs a message for its From: domain (*dkim.Signer).
type Signer interface {
	Sign(msg []byte) ([]byte, error)
}

// Config sets up a Reporter; every field but Logger is required.
type Config struct {
	Store    Store
	Resolver Resolver
	Signer   Signer
	// From is the reporting address (--dmarc-reports-from), at a hosted
	// domain whose DKIM key signs the reports.
	From string
	// Hostname names us as the reporting organisation (org_name).
	Hostname string
	Logger   *slog.Logger
}

// MaxDestinations is the most rua addresses one report goes to.
const MaxDestinations = 5

// Reporter builds and queues the daily reports.
type Reporter struct {
	cfg Config
	log *slog.Logger
}

// New checks cfg and makes a Reporter.
func New(cfg Config) (*Reporter, error) {
	if cfg.Store == nil || cfg.Resolver == nil || cfg.Signer == nil || cfg.Hostname == "" {
		return nil, errors.New("dmarcrpt: Store, Resolver, Signer and Hostname are required")
	}
	from, err := store.NormalizeAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("--dmarc-reports-from %q: %w", cfg.From, err)
	}
	cfg.From = from
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Reporter{cfg: cfg, log: cfg.Logger.With("service", "dmarc-reports")}, nil
}

// Record keeps one evaluation (mx.Config.DMARCEvals); a failure is
// logged, never the message's problem.
func (r *Reporter) Record(ev store.DMARCEval) {
	if err := r.cfg.Store.AddDMARCEval(time.Now(), ev); err != nil {
		r.log.Warn("keeping a DMARC evaluation", "domain", ev.PolicyDomain, "err", err)
	}
}

// SendDue queues a report for every recorded day before the day of
// before (UTC) and policy domain with a usable rua address, and forgets
// the day. A day whose destinations could not be looked up is kept for
// the next try. It returns how many reports were queued.
func (r *Reporter) SendDue(ctx context.Context, before time.Time) (int, error) {
	if !r.cfg.Store.IsHosted(store.DomainOf(r.cfg.From)) {
		return 0, fmt.Errorf("the DMARC reporting address %s is not at a hosted domain (its DKIM key signs the reports)", r.cfg.From)
	}
	days, err := r.cfg.Store.DMARCDays(before)
	if err != nil {
		return 0, err
	}
	sent := 0
	for _, d := range days {
		if ctx.Err() != nil {
			return sent, ctx.Err()
		}
		dests, retry := r.destinations(ctx, d)
		if retry {
			continue
		}
		if len(dests) > 0 {
			msg, err := r.message(d, dests)
			if err != nil {
				return sent, err
			}
			acc, err := r.cfg.Store.Accept(&store.Incoming{From: r.cfg.From, Remote: dests, Body: msg,
				Subject: "DMARC report " + d.Domain + " " + d.Day, Service: "dmarc-reports"})
			if err != nil {
				return sent, fmt.Errorf("queueing the DMARC report for %s: %w", d.Domain, err)
			}
			sent++
			r.log.Info("DMARC report queued", "domain", d.Domain, "day", d.Day, "messages", len(d.Evals), "rua", strings.Join(dests, ","), "queued", acc.QueueID)
		}
		if err := r.cfg.Store.DeleteDMARCDay(d.Day, d.Domain); err != nil {
			return sent, err
		}
	}
	return sent, nil
}

// destinations are the mailto: addresses of the day's rua= (the latest
// record seen) that may receive the report: one in the policy domain's
// organisation, or one whose domain confirms it takes reports for the
// policy domain (RFC 7489 §7.1). retry: a lookup failed for now.
func (r *Reporter) destinations(ctx context.Context, d store.DMARCDay) (dests []string, retry bool) {
	rua := d.Evals[len(d.Evals)-1].RUA
	for _, uri := range rua {
		addr, ok := mailtoAddress(uri)
		if !ok {
			continue
		}
		dom := store.DomainOf(addr)
		if orgDomain(dom) != orgDomain(d.Domain) {
			ok, temp := r.verifyExternal(ctx, d.Domain, dom)
			if temp {
				r.log.Info("DMARC report: external destination lookup failed; trying again later", "domain", d.Domain, "rua", addr)
				return nil, true
			}
			if !ok {
				r.log.Info("DMARC report: external destination does not take reports for the domain (RFC 7489 §7.1)", "domain", d.Domain, "rua", addr)
				continue
			}
		}
		if !contains(dests, addr) {
			dests = append(dests, addr)
		}
		if len(dests) == MaxDestinations {
			break
		}
	}
	return dests, false
}

// verifyExternal looks up <domain>._report._dmarc.<dest> (§7.1): a
// record that starts with v=DMARC1 says dest takes reports for domain.
func (r *Reporter) verifyExternal(ctx context.Context, domain, dest string) (ok, temp bool) {
	lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	txts, err := r.cfg.Resolver.LookupTXT(lctx, domain+"._report._dmarc."+dest)
	if err != nil {
		return false, !dnsx.IsNotFound(err)
	}
	for _, t := range txts {
		if v, _, _ := strings.Cut(t, ";"); strings.EqualFold(strings.TrimSpace(v), "v=DMARC1") {
			return true, false
		}
	}
	return false, false
}

// mailtoAddress reads a rua URI: mailto:addr, with an optional size
// limit (!10m) that we ignore (our reports are small).
func mailtoAddress(uri string) (string, bool) {
	uri = strings.TrimSpace(uri)
	if len(uri) < 7 || !strings.EqualFold(uri[:7], "mailto:") {
		return "", false
	}
	a := uri[7:]
	if i := strings.LastIndexByte(a, '!'); i >= 0 {
		a = a[:i]
	}
	if u, err := url.PathUnescape(a); err == nil {
		a = u
	}
	addr, err := store.NormalizeAddress(a)
	if err != nil {
		return "", false
	}
	return addr, true
}

func orgDomain(d string) string {
	o, err := publicsuffix.EffectiveTLDPlusOne(strings.ToLower(strings.TrimSuffix(d, ".")))
	if err != nil {
		return strings.ToLower(d)
	}
	return o
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// Build makes the aggregate report of one day of one policy domain:
// one record per source, outcome and identifiers, counted.
func Build(d store.DMARCDay, org, email, reportID string) (*reports.Feedback, error) {
	start, err := time.Parse(time.DateOnly, d.Day)
	if err != nil {
		return nil, err
	}
	if len(d.Evals) == 0 {
		return nil, errors.New("no evaluations")
	}
	f := &reports.Feedback{Version: "1.0",
		Metadata: reports.ReportMetadata{OrgName: org, Email: email, ReportID: reportID,
			DateRange: reports.DateRange{Begin: start.Unix(), End: start.Add(24*time.Hour - time.Second).Unix()}},
		Policy: d.Evals[len(d.Evals)-1].Policy}
	idx := map[string]int{}
	for _, ev := range d.Evals {
		rec := reports.Record{
			Row: reports.Row{SourceIP: ev.SourceIP, PolicyEvaluated: reports.PolicyEvaluated{Disposition: ev.Disposition,
				DKIM: passFail(ev.DKIMAligned), SPF: passFail(ev.SPFAligned)}},
			Identifiers: reports.Identifiers{EnvelopeTo: ev.EnvelopeTo, EnvelopeFrom: ev.EnvelopeFrom, HeaderFrom: ev.HeaderFrom},
			AuthResults: reports.AuthResults{DKIM: ev.DKIM, SPF: []reports.SPFAuthResult{ev.SPF}},
		}
		key := fmt.Sprintf("%+v", rec)
		i, ok := idx[key]
		if !ok {
			i = len(f.Records)
			idx[key] = i
			f.Records = append(f.Records, rec)
		}
		f.Records[i].Row.Count++
	}
	sort.SliceStable(f.Records, func(i, j int) bool { return f.Records[i].Row.Count > f.Records[j].Row.Count })
	return f, nil
}

func passFail(ok bool) string {
	if ok {
		return "pass"
	}
	return "fail"
}
