package serve

import "github.com/authsmtp/authsmtp/acme"

// tlsConfig maps the serve flags onto the certificate source's config.
func (srv *server) tlsConfig() acme.Config {
	c := srv.cfg
	ac := acme.Config{
		Mode:       c.TLSMode,
		Hostname:   c.Hostname,
		CertFile:   c.TLSCert,
		KeyFile:    c.TLSKey,
		CA:         c.ACMECA,
		Staging:    c.ACMEStaging,
		Email:      c.ACMEEmail,
		EABKeyID:   c.ACMEEABKID,
		EABHMAC:    c.ACMEEABHMAC,
		CARootFile: c.ACMECARoot,
		Domains:    c.ACMEDomains,
		HostedDomains: func() ([]string, error) {
			ds, err := srv.st.ListDomains()
			if err != nil {
				return nil, err
			}
			names := make([]string, 0, len(ds))
			for _, d := range ds {
				names = append(names, d.Name)
			}
			return names, nil
		},
		Logger: srv.log.With("service", "tls"),
	}
	if srv.tlsTune != nil {
		srv.tlsTune(&ac)
	}
	return ac
}
