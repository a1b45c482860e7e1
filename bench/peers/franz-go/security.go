package main

// The Java client's security properties, mapped to kgo options: security.protocol,
// sasl.mechanism (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512), sasl.jaas.config (username and password
// of the PLAIN or SCRAM login module), ssl.truststore.type=PEM with ssl.truststore.location, and
// ssl.endpoint.identification.algorithm (empty: no hostname check).

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"regexp"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

type security struct {
	protocol  string
	mechanism string
	jaas      string
	trustType string
	trustFile string
	noVerify  bool
}

func (s *security) set(name, v string) error {
	switch name {
	case "security.protocol":
		s.protocol = v
	case "sasl.mechanism":
		s.mechanism = v
	case "sasl.jaas.config":
		s.jaas = v
	case "ssl.truststore.type":
		if v != "PEM" {
			return fmt.Errorf("ssl.truststore.type=%q: this program reads PEM only", v)
		}
		s.trustType = v
	case "ssl.truststore.location":
		s.trustFile = v
	case "ssl.endpoint.identification.algorithm":
		s.noVerify = v == ""
	}
	return nil
}

var jaasField = regexp.MustCompile(`(username|password)="([^"]*)"`)

func (s *security) options() ([]kgo.Opt, error) {
	var opts []kgo.Opt
	useTLS, useSASL := false, false
	switch s.protocol {
	case "", "PLAINTEXT":
	case "SSL":
		useTLS = true
	case "SASL_PLAINTEXT":
		useSASL = true
	case "SASL_SSL":
		useTLS, useSASL = true, true
	default:
		return nil, fmt.Errorf("security.protocol=%q: expected PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL", s.protocol)
	}
	if useTLS {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if s.trustFile != "" {
			pem, err := os.ReadFile(s.trustFile)
			if err != nil {
				return nil, fmt.Errorf("ssl.truststore.location: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("ssl.truststore.location %s: no PEM certificate in it", s.trustFile)
			}
			cfg.RootCAs = pool
		}
		// The broker's certificate names the advertised host; SNI and the check use it
		// (DialTLSConfig sets ServerName from the address it dials).
		cfg.InsecureSkipVerify = s.noVerify
		opts = append(opts, kgo.Dialer((&tlsDialer{cfg: cfg}).DialContext))
	}
	if useSASL {
		user, pass := "", ""
		for _, m := range jaasField.FindAllStringSubmatch(s.jaas, -1) {
			if m[1] == "username" {
				user = m[2]
			} else {
				pass = m[2]
			}
		}
		var mech sasl.Mechanism
		switch s.mechanism {
		case "PLAIN", "":
			mech = plain.Auth{User: user, Pass: pass}.AsMechanism()
		case "SCRAM-SHA-256":
			mech = scram.Auth{User: user, Pass: pass}.AsSha256Mechanism()
		case "SCRAM-SHA-512":
			mech = scram.Auth{User: user, Pass: pass}.AsSha512Mechanism()
		default:
			return nil, fmt.Errorf("sasl.mechanism=%q: this program knows PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512", s.mechanism)
		}
		opts = append(opts, kgo.SASL(mech))
	}
	return opts, nil
}

// tlsDialer dials TCP then TLS, with the dialed host as the server name.
type tlsDialer struct{ cfg *tls.Config }

func (d *tlsDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	cfg := d.cfg.Clone()
	cfg.ServerName = host
	td := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 10 * time.Second}, Config: cfg}
	return td.DialContext(ctx, network, addr)
}
