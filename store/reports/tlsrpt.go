package reports

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// TLSReport is an SMTP TLS report (RFC 8460 §4.4).
type TLSReport struct {
	OrganizationName string      `json:"organization-name"`
	DateRange        TLSRange    `json:"date-range"`
	ContactInfo      string      `json:"contact-info"`
	ReportID         string      `json:"report-id"`
	Policies         []TLSPolicy `json:"policies"`
}

// TLSRange is the reporting period.
type TLSRange struct {
	Start time.Time `json:"start-datetime"`
	End   time.Time `json:"end-datetime"`
}

// TLSPolicy is the result of one policy the sender applied.
type TLSPolicy struct {
	Policy         TLSPolicyDesc      `json:"policy"`
	Summary        TLSSummary         `json:"summary"`
	FailureDetails []TLSFailureDetail `json:"failure-details,omitempty"`
}

// TLSPolicyDesc says which policy: sts, tlsa or no-policy-found.
type TLSPolicyDesc struct {
	Type   string    `json:"policy-type"`
	String []string  `json:"policy-string,omitempty"`
	Domain string    `json:"policy-domain"`
	MXHost multiName `json:"mx-host,omitempty"`
}

// TLSSummary counts sessions.
type TLSSummary struct {
	Successful int64 `json:"total-successful-session-count"`
	Failed     int64 `json:"total-failure-session-count"`
}

// TLSFailureDetail is one kind of failure seen.
type TLSFailureDetail struct {
	ResultType          string `json:"result-type"`
	SendingMTAIP        string `json:"sending-mta-ip,omitempty"`
	ReceivingMXHostname string `json:"receiving-mx-hostname,omitempty"`
	ReceivingMXHelo     string `json:"receiving-mx-helo,omitempty"`
	ReceivingIP         string `json:"receiving-ip,omitempty"`
	FailedSessions      int64  `json:"failed-session-count"`
	AdditionalInfo      string `json:"additional-information,omitempty"`
	FailureReasonCode   string `json:"failure-reason-code,omitempty"`
}

// multiName is mx-host: an array of names in the RFC, a single string
// from some senders.
type multiName []string

func (m *multiName) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*m = multiName{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*m = many
	return nil
}

// RFC 8460 §4.3 result types (an unknown one is kept: the registry grows).
var tlsPolicyTypes = set("sts", "tlsa", "no-policy-found")

// ParseTLSRPT reads one TLS report's JSON and checks the fields RFC 8460
// requires; counts may not be negative and there are at most
// lim.MaxRecords policies and failure details in all.
func ParseTLSRPT(data []byte, lim Limits) (*TLSReport, error) {
	lim = lim.orDefault()
	if len(data) > lim.MaxDecompressed {
		return nil, fmt.Errorf("TLS report of %d bytes: over the limit of %d", len(data), lim.MaxDecompressed)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var r TLSReport
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("reading the TLS report JSON: %w", err)
	}
	if dec.More() {
		return nil, errors.New("data after the TLS report")
	}
	if err := r.check(lim); err != nil {
		return nil, fmt.Errorf("TLS report: %w", err)
	}
	return &r, nil
}

func (r *TLSReport) check(lim Limits) error {
	r.OrganizationName, r.ReportID, r.ContactInfo = strings.TrimSpace(r.OrganizationName), strings.TrimSpace(r.ReportID), strings.TrimSpace(r.ContactInfo)
	if r.OrganizationName == "" || r.ReportID == "" {
		return errors.New("organization-name or report-id missing")
	}
	if r.DateRange.Start.IsZero() || r.DateRange.End.Before(r.DateRange.Start) {
		return errors.New("date-range is not a period")
	}
	if len(r.Policies) == 0 {
		return errors.New("no policies")
	}
	n := 0
	for i := range r.Policies {
		p := &r.Policies[i]
		p.Policy.Type, p.Policy.Domain = lowerTrim(p.Policy.Type), lowerTrim(p.Policy.Domain)
		if !tlsPolicyTypes[p.Policy.Type] {
			return fmt.Errorf("policy %d: policy-type %q", i+1, p.Policy.Type)
		}
		if p.Policy.Domain == "" {
			return fmt.Errorf("policy %d: policy-domain missing", i+1)
		}
		if p.Summary.Successful < 0 || p.Summary.Failed < 0 {
			return fmt.Errorf("policy %d: negative session count", i+1)
		}
		n += 1 + len(p.FailureDetails) + len(p.Policy.String) + len(p.Policy.MXHost)
		if n > lim.MaxRecords {
			return fmt.Errorf("over %d policies, failure details and policy lines", lim.MaxRecords)
		}
		for j := range p.FailureDetails {
			d := &p.FailureDetails[j]
			d.ResultType = lowerTrim(d.ResultType)
			if d.ResultType == "" || d.FailedSessions < 0 {
				return fmt.Errorf("policy %d, failure %d: result-type missing or negative count", i+1, j+1)
			}
		}
	}
	return nil
}

// Sessions counts the successful and failed sessions of the report.
func (r *TLSReport) Sessions() (ok, failed int64) {
	for _, p := range r.Policies {
		ok += p.Summary.Successful
		failed += p.Summary.Failed
	}
	return ok, failed
}
