package reports

import (
	"errors"
	"testing"
)

// The fuzz targets' seeds are the samples in testdata/fuzz/<target>/
// (the three senders' XML, the TLS reports, the mail shapes, bombs).
// Small limits make the refusing paths reachable.
var fuzzLimits = Limits{MaxAttachment: 64 << 10, MaxDecompressed: 256 << 10, MaxZipEntries: 2, MaxRecords: 50, MaxParts: 10}

// FuzzParseDMARC: any bytes parse without a panic; what parses holds the
// schema's required fields and no more rows than the limit.
func FuzzParseDMARC(f *testing.F) {
	f.Add([]byte("<feedback><report_metadata><org_name>o</org_name><report_id>1</report_id></report_metadata><policy_published><domain>d</domain><p>none</p></policy_published></feedback>"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseDMARC(data, fuzzLimits)
		if err != nil {
			return
		}
		if r.Metadata.OrgName == "" || r.Metadata.ReportID == "" || r.Policy.Domain == "" || len(r.Records) > fuzzLimits.MaxRecords {
			t.Fatalf("accepted a report without its required fields: %+v", r.Metadata)
		}
		for _, rec := range r.Records {
			if rec.Row.Count < 0 || rec.Identifiers.HeaderFrom == "" {
				t.Fatalf("accepted record %+v", rec)
			}
		}
	})
}

// FuzzParseTLSRPT: any bytes parse without a panic; what parses has
// policies with a type and domain and no negative counts.
func FuzzParseTLSRPT(f *testing.F) {
	f.Add([]byte(`{"organization-name":"o","report-id":"r","date-range":{"start-datetime":"2026-01-01T00:00:00Z","end-datetime":"2026-01-02T00:00:00Z"},"policies":[{"policy":{"policy-type":"sts","policy-domain":"d"}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseTLSRPT(data, fuzzLimits)
		if err != nil {
			return
		}
		if len(r.Policies) == 0 || r.ReportID == "" {
			t.Fatal("accepted a report without policies or id")
		}
		if ok, failed := r.Sessions(); ok < 0 || failed < 0 {
			t.Fatalf("negative sessions %d %d", ok, failed)
		}
	})
}

// FuzzExtract: any mail is read without a panic within the limits, and
// yields either a report of the kind it says or an error.
func FuzzExtract(f *testing.F) {
	f.Add([]byte("Content-Type: text/xml\r\n\r\n<feedback/>"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		found, err := Extract(msg, "", fuzzLimits)
		if err != nil {
			if found != nil {
				t.Fatal("a report and an error")
			}
			if !errors.Is(err, ErrNotReport) && !errors.Is(err, ErrBomb) {
				t.Fatalf("error outside the two kinds: %v", err)
			}
			return
		}
		if (found.Kind == KindDMARC) != (found.DMARC != nil) || (found.Kind == KindTLSRPT) != (found.TLS != nil) {
			t.Fatalf("kind %s with the wrong report", found.Kind)
		}
	})
}
