package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/authsmtp/authsmtp/store/kv"

	"github.com/authsmtp/authsmtp/store/reports"
)

// Reports received about hosted domains (DMARC aggregate reports, RFC
// 7489 §7.2; SMTP TLS reports, RFC 8460). The MX takes mail for each
// hosted domain's report addresses (ReportLocalParts) whether or not a
// user of that name exists; it parses the report (store/reports) and
// stores it here with the mail that carried it:
//
//	reports     domain → nested bucket:
//	              report id (8 bytes BE, from the meta seq) → StoredReport (JSON)
//	              "k:" + kind + ":" + SHA-256(org, report id) → report id
//	                (a report sent again replaces nothing: it is a duplicate)
//	              "d:" + YYYY-MM-DD → reports stored that day (u32 BE) and
//	                their bytes (u64 BE), for the ReportCap
//	reportmail  domain → nested bucket: report id → the mail as received
//
// Reports go ReportRetention after the period they cover (checked at
// most once a day, when a report comes in). Anybody can mail a report
// address, so what one domain stores in a day is capped (ReportCap):
// past the cap a new report is refused (ErrReportCap) and the older
// ones stay.
//
// The mails go to this bucket rather than to a mailbox: they are machine
// mail nobody reads in a mail client, a busy domain gets hundreds a
// month, and kept beside their parsed form they count against no user's
// quota, are shown and downloaded from the report page, and go with the
// domain when it is removed.

var (
	bucketReports    = []byte("reports")
	bucketReportMail = []byte("reportmail")
)

// ReportLocalParts are the local parts that receive reports at every
// hosted domain, and the kind each receives.
var ReportLocalParts = map[string]reports.Kind{
	"dmarc-reports": reports.KindDMARC,
	"tls-reports":   reports.KindTLSRPT,
}

// ReportKindOf returns the kind of report addr receives ("" for none);
// addr canonical.
func ReportKindOf(addr string) reports.Kind {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return ""
	}
	return ReportLocalParts[strings.ToLower(addr[:at])]
}

// StoredReport is one received report.
type StoredReport struct {
	ID       uint64       `json:"id"`
	Domain   string       `json:"domain"`
	Kind     reports.Kind `json:"kind"`
	Received time.Time    `json:"received"`
	// Begin and End are the period the report covers.
	Begin  time.Time `json:"begin"`
	End    time.Time `json:"end"`
	Org    string    `json:"org"`
	RptID  string    `json:"report_id"`
	Sender string    `json:"sender"` // the envelope sender of the mail
	// Attachment is the file name the report came in.
	Attachment string             `json:"attachment,omitempty"`
	DMARC      *reports.Feedback  `json:"dmarc,omitempty"`
	TLS        *reports.TLSReport `json:"tls,omitempty"`
}

// ReportCap bounds the reports one hosted domain stores per day (UTC, by
// the day they are received). A real domain gets one report a day from
// each organisation that sends them, a few hundred KiB at most; the
// defaults leave room for a hundred such senders.
type ReportCap struct {
	Reports int // reports stored per domain and day (200)
	Bytes   int // their mails and parsed forms together (64 MiB)
}

func (c ReportCap) orDefault() ReportCap {
	if c.Reports <= 0 {
		c.Reports = 200
	}
	if c.Bytes <= 0 {
		c.Bytes = 64 << 20
	}
	return c
}

// ErrReportCap is a report refused because its domain has stored its
// day's cap (ReportCap).
var ErrReportCap = errors.New("the domain has stored as many reports as it may today")

func reportDayKey(now time.Time) []byte {
	return []byte("d:" + now.UTC().Format(time.DateOnly))
}

// AddReport stores a report received for a hosted domain, with the mail
// it came in. A report already stored (same kind, organisation and
// report id) is not stored again: dup is true. Past the domain's
// ReportCap for the day of now the report is refused with ErrReportCap.
func (s *Store) AddReport(domain string, f *reports.Found, sender string, mail []byte, now time.Time) (id uint64, dup bool, err error) {
	dn, err := DomainLogin(domain)
	if err != nil {
		return 0, false, err
	}
	r := StoredReport{Domain: dn, Kind: f.Kind, Received: now.UTC(), Sender: sender, Attachment: f.Name, DMARC: f.DMARC, TLS: f.TLS}
	switch {
	case f.DMARC != nil:
		r.Begin, r.End, r.Org, r.RptID = f.DMARC.Begin(), f.DMARC.End(), f.DMARC.Metadata.OrgName, f.DMARC.Metadata.ReportID
	case f.TLS != nil:
		r.Begin, r.End, r.Org, r.RptID = f.TLS.DateRange.Start.UTC(), f.TLS.DateRange.End.UTC(), f.TLS.OrganizationName, f.TLS.ReportID
	default:
		return 0, false, fmt.Errorf("storing a report: no report")
	}
	sum := sha256.Sum256([]byte(r.Org + "\x00" + r.RptID))
	dedup := []byte("k:" + string(r.Kind) + ":" + string(sum[:]))
	err = s.db.Update(func(tx kv.Tx) error {
		id, dup = 0, false // this may run more than once
		if !isHostedTx(tx, dn) {
			return fmt.Errorf("%w: %s", ErrNoSuchDomain, dn)
		}
		rb, err := nestedBucket(tx, bucketReports, dn)
		if err != nil {
			return err
		}
		if v := rb.Get(dedup); v != nil {
			dup = true
			return nil
		}
		mb, err := nestedBucket(tx, bucketReportMail, dn)
		if err != nil {
			return err
		}
		id = nextSeq(tx)
		r.ID = id
		raw, err := json.Marshal(r)
		if err != nil {
			return err
		}
		day := reportDayKey(now)
		count, size := uint32(0), uint64(0)
		if v := rb.Get(day); len(v) == 12 {
			count, size = binary.BigEndian.Uint32(v), binary.BigEndian.Uint64(v[4:])
		}
		count, size = count+1, size+uint64(len(raw)+len(mail))
		if count > uint32(s.reportCap.Reports) || size > uint64(s.reportCap.Bytes) {
			return fmt.Errorf("%w (%d reports, %d bytes a day)", ErrReportCap, s.reportCap.Reports, s.reportCap.Bytes)
		}
		if err := rb.Put(day, binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint32(nil, count), size)); err != nil {
			return err
		}
		if err := rb.Put(u64(id), raw); err != nil {
			return err
		}
		if err := rb.Put(dedup, u64(id)); err != nil {
			return err
		}
		return mb.Put(u64(id), mail)
	})
	if err != nil {
		return 0, false, fmt.Errorf("storing a report for %s: %w", dn, err)
	}
	if err := s.pruneReports(now); err != nil {
		s.log.Warn("pruning old reports", "err", err)
	}
	return id, dup, nil
}

// ReportRetention is how long received reports (and their mails) are
// kept after the period they cover.
const ReportRetention = 400 * 24 * time.Hour

// pruneReports removes, at most once a day, every report whose period
// ended more than ReportRetention before now, with its mail and its
// duplicate marker, and the ReportCap counters of days gone.
func (s *Store) pruneReports(now time.Time) error {
	last := s.reportsPruned.Load()
	if now.Unix()-last < 24*3600 || !s.reportsPruned.CompareAndSwap(last, now.Unix()) {
		return nil
	}
	cutoff := now.Add(-ReportRetention)
	return s.db.Update(func(tx kv.Tx) error {
		top := tx.Bucket(bucketReports)
		if top == nil {
			return nil
		}
		mails := tx.Bucket(bucketReportMail)
		var doms [][]byte
		if err := top.ForEachBucket(func(name []byte) error {
			doms = append(doms, append([]byte(nil), name...))
			return nil
		}); err != nil {
			return err
		}
		for _, dom := range doms {
			b := top.Bucket(dom)
			var old [][]byte
			oldDay := reportDayKey(now.AddDate(0, 0, -2))
			err := b.ForEach(func(k, v []byte) error {
				if bytes.HasPrefix(k, []byte("d:")) && bytes.Compare(k, oldDay) <= 0 {
					old = append(old, append([]byte(nil), k...)) // a day's cap counter, done with
					return nil
				}
				if len(k) != 8 || v == nil {
					return nil
				}
				var r struct {
					Kind  string    `json:"kind"`
					End   time.Time `json:"end"`
					Org   string    `json:"org"`
					RptID string    `json:"report_id"`
				}
				if json.Unmarshal(v, &r) == nil && r.End.Before(cutoff) {
					sum := sha256.Sum256([]byte(r.Org + "\x00" + r.RptID))
					old = append(old, append([]byte(nil), k...), []byte("k:"+r.Kind+":"+string(sum[:])))
				}
				return nil
			})
			if err != nil {
				return err
			}
			for _, k := range old {
				if err := b.Delete(k); err != nil {
					return err
				}
				if mails != nil && len(k) == 8 {
					if mb := mails.Bucket(dom); mb != nil {
						if err := mb.Delete(k); err != nil {
							return err
						}
					}
				}
			}
		}
		return nil
	})
}

// isHostedTx reports whether domain (canonical) is hosted, inside tx.
func isHostedTx(tx kv.Tx, domain string) bool {
	return tx.Bucket(bucketDomains).Get([]byte(domain)) != nil
}

func nestedBucket(tx kv.Tx, top []byte, name string) (kv.Bucket, error) {
	b, err := tx.CreateBucketIfNotExists(top)
	if err != nil {
		return nil, err
	}
	return b.CreateBucketIfNotExists([]byte(name))
}

// Reports returns the domain's reports whose period ends after since,
// oldest first.
func (s *Store) Reports(domain string, since time.Time) ([]StoredReport, error) {
	dn, err := DomainLogin(domain)
	if err != nil {
		return nil, err
	}
	var out []StoredReport
	err = s.db.View(func(tx kv.Tx) error {
		if !isHostedTx(tx, dn) {
			return fmt.Errorf("%w: %s", ErrNoSuchDomain, dn)
		}
		top := tx.Bucket(bucketReports)
		if top == nil {
			return nil
		}
		b := top.Bucket([]byte(dn))
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			if len(k) != 8 {
				return nil // a dedup key
			}
			var r StoredReport
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("report %x: %w", k, err)
			}
			if r.End.After(since) {
				out = append(out, r)
			}
			return nil
		})
	})
	sort.SliceStable(out, func(i, j int) bool { return out[i].Begin.Before(out[j].Begin) })
	return out, err
}

// ReportMail returns the mail a report came in.
func (s *Store) ReportMail(domain string, id uint64) ([]byte, error) {
	dn, err := DomainLogin(domain)
	if err != nil {
		return nil, err
	}
	var out []byte
	err = s.db.View(func(tx kv.Tx) error {
		if top := tx.Bucket(bucketReportMail); top != nil {
			if b := top.Bucket([]byte(dn)); b != nil {
				out = append([]byte(nil), b.Get(u64(id))...)
			}
		}
		if out == nil {
			return fmt.Errorf("no report %d for %s", id, dn)
		}
		return nil
	})
	return out, err
}

// registerReportHooks removes a domain's reports with the domain.
func (s *Store) registerReportHooks() {
	s.domainRemoveHooks = append(s.domainRemoveHooks, func(tx kv.Tx, domain string) error {
		for _, top := range [][]byte{bucketReports, bucketReportMail} {
			if b := tx.Bucket(top); b != nil && b.Bucket([]byte(domain)) != nil {
				if err := b.DeleteBucket([]byte(domain)); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// ReportSummary is what the report page and `domain reports` show.
type ReportSummary struct {
	Domain string               `json:"domain"`
	Since  time.Time            `json:"since"`
	DMARC  reports.DMARCSummary `json:"dmarc"`
	TLS    []reports.TLSRow     `json:"tls"`
	List   []ReportListing      `json:"reports"`
}

// ReportListing names one stored report.
type ReportListing struct {
	ID         uint64       `json:"id"`
	Kind       reports.Kind `json:"kind"`
	Org        string       `json:"org"`
	ReportID   string       `json:"report_id"`
	Begin      time.Time    `json:"begin"`
	End        time.Time    `json:"end"`
	Received   time.Time    `json:"received"`
	Attachment string       `json:"attachment,omitempty"`
}

// SummarizeReports sums up the domain's reports of the last days days
// (periods ending after now minus days).
func (s *Store) SummarizeReports(domain string, days int, now time.Time) (ReportSummary, error) {
	dn, err := DomainLogin(domain)
	if err != nil {
		return ReportSummary{}, err
	}
	since := now.UTC().AddDate(0, 0, -days)
	rs, err := s.Reports(dn, since)
	if err != nil {
		return ReportSummary{}, err
	}
	sum := ReportSummary{Domain: dn, Since: since}
	var fs []*reports.Feedback
	var ts []*reports.TLSReport
	for i := len(rs) - 1; i >= 0; i-- { // newest first in the list
		r := rs[i]
		if r.DMARC != nil {
			fs = append(fs, r.DMARC)
		}
		if r.TLS != nil {
			ts = append(ts, r.TLS)
		}
		sum.List = append(sum.List, ReportListing{ID: r.ID, Kind: r.Kind, Org: r.Org, ReportID: r.RptID,
			Begin: r.Begin, End: r.End, Received: r.Received, Attachment: r.Attachment})
	}
	sum.DMARC = reports.SummarizeDMARC(fs)
	sum.TLS = reports.SummarizeTLS(ts)
	return sum, nil
}
