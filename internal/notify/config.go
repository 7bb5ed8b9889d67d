package notify

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/mail"
	"os"
	"strconv"
	"strings"
	"time"
)

// Defaults for SMTPConfig.
const (
	DefaultPort    = 587
	DefaultTimeout = 30 * time.Second
)

// StartTLS modes.
const (
	// StartTLSAuto upgrades the connection with STARTTLS when the server
	// offers it, and goes on in plain text when it does not.
	StartTLSAuto = "auto"
	// StartTLSAlways requires STARTTLS: Send fails if the server does not
	// offer it.
	StartTLSAlways = "always"
	// StartTLSNever never uses STARTTLS, even when the server offers it.
	StartTLSNever = "never"
)

// Environment variables read by SMTPConfigFromEnv.
const (
	EnvHost     = "HERALD_SMTP_HOST"
	EnvPort     = "HERALD_SMTP_PORT"
	EnvUsername = "HERALD_SMTP_USERNAME"
	EnvPassword = "HERALD_SMTP_PASSWORD"
	EnvFrom     = "HERALD_SMTP_FROM"
	EnvStartTLS = "HERALD_SMTP_STARTTLS"
)

// SMTPConfig says how to reach the mail server.
//
// Only STARTTLS (usually port 587, or 25) is supported, not implicit TLS
// (SMTPS, port 465).
//
// AUTH PLAIN is used when Username is set. Credentials are only ever sent over
// TLS, or in plain text to localhost (localhost, 127.0.0.1 or ::1, e.g. a
// sidecar relay): that is net/smtp's safety rule, and it is kept.
type SMTPConfig struct {
	// Host is the mail server's host name or IP address, without a port.
	Host string
	// Port is the mail server's port; zero means DefaultPort.
	Port int
	// Username and Password are the AUTH PLAIN credentials; both empty means
	// no AUTH.
	Username string
	Password string
	// From is the sender address, e.g. "Herald <herald@example.com>". Its
	// address is also the envelope sender (MAIL FROM).
	From string
	// StartTLS is StartTLSAuto (the default when empty), StartTLSAlways or
	// StartTLSNever.
	StartTLS string
	// Timeout bounds a whole Send, from dialing to the end of the
	// conversation; zero means DefaultTimeout.
	Timeout time.Duration

	// envErr records a value SMTPConfigFromEnv could not parse, so that
	// Validate reports it as it was given.
	envErr string
}

// Enabled reports whether notifications by mail are configured: Host and From
// are set.
func (c SMTPConfig) Enabled() bool {
	return strings.TrimSpace(c.Host) != "" && strings.TrimSpace(c.From) != ""
}

// Validate checks the configuration. The zero configuration (nothing set:
// mail notifications disabled) is valid; once anything is set, Host and From
// must both be.
func (c SMTPConfig) Validate() error {
	if c.envErr != "" {
		return errors.New(c.envErr)
	}
	if c.Host == "" && c.From == "" && c.Username == "" && c.Password == "" {
		return nil
	}
	var errs []error
	add := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("smtp config: "+format, args...))
	}

	switch {
	case c.Host == "":
		add("Host (%s) is required when mail notifications are configured", EnvHost)
	case hasCRLF(c.Host) || strings.ContainsAny(c.Host, " \t/@"):
		add("Host %q is not a valid host name", c.Host)
	case strings.Contains(c.Host, ":") && net.ParseIP(c.Host) == nil:
		add("Host %q must not contain a port: set Port (%s) instead", c.Host, EnvPort)
	}

	if c.Port < 0 || c.Port > 65535 {
		add("Port %d is out of range 1-65535", c.Port)
	}

	if c.From == "" {
		add("From (%s) is required when mail notifications are configured", EnvFrom)
	} else if _, err := parseAddress(c.From); err != nil {
		add("From: %v", err)
	}

	switch {
	case c.Password == "" && c.Username != "":
		add("Username is set but Password is empty")
	case c.Password != "" && c.Username == "":
		add("Password is set but Username is empty")
	}
	if hasCRLF(c.Username) {
		add("Username must not contain CR or LF")
	}

	mode := c.startTLSMode()
	switch mode {
	case StartTLSAuto, StartTLSAlways, StartTLSNever:
	default:
		add("StartTLS %q is not one of %q, %q, %q", c.StartTLS, StartTLSAuto, StartTLSAlways, StartTLSNever)
	}
	if c.Username != "" && mode == StartTLSNever && c.Host != "" && !isLocalhost(c.Host) {
		add("Username is set but StartTLS is %q: credentials are only sent over TLS, or in plain text to localhost", StartTLSNever)
	}

	if c.Timeout < 0 {
		add("Timeout %v is negative", c.Timeout)
	}
	return errors.Join(errs...)
}

// String returns the configuration with the password redacted, so that it can
// be logged.
func (c SMTPConfig) String() string {
	password := ""
	if c.Password != "" {
		password = "<redacted>"
	}
	return fmt.Sprintf("{Host:%s Port:%d Username:%s Password:%s From:%s StartTLS:%s Timeout:%v}",
		c.Host, c.Port, c.Username, password, c.From, c.StartTLS, c.Timeout)
}

// GoString is String, so that %#v does not print the password either.
func (c SMTPConfig) GoString() string { return "notify.SMTPConfig" + c.String() }

func (c SMTPConfig) startTLSMode() string {
	if c.StartTLS == "" {
		return StartTLSAuto
	}
	return strings.ToLower(c.StartTLS)
}

// withDefaults fills in the zero Port, StartTLS and Timeout.
func (c SMTPConfig) withDefaults() SMTPConfig {
	if c.Port == 0 {
		c.Port = DefaultPort
	}
	c.StartTLS = c.startTLSMode()
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	return c
}

// SMTPConfigFromEnv reads the configuration from HERALD_SMTP_HOST,
// HERALD_SMTP_PORT (default 587), HERALD_SMTP_USERNAME, HERALD_SMTP_PASSWORD,
// HERALD_SMTP_FROM and HERALD_SMTP_STARTTLS (default "auto"); getenv is
// usually os.Getenv. Timeout is DefaultTimeout.
//
// The password comes from the environment (e.g. a Secret's key mapped with
// secretKeyRef) or from a mounted file (PasswordFromFile), never from a
// command-line flag, which any user of the node can read in the process list.
//
// A malformed HERALD_SMTP_PORT is reported by Validate.
func SMTPConfigFromEnv(getenv func(string) string) SMTPConfig {
	c := SMTPConfig{
		Host:     strings.TrimSpace(getenv(EnvHost)),
		Port:     DefaultPort,
		Username: strings.TrimSpace(getenv(EnvUsername)),
		Password: getenv(EnvPassword),
		From:     strings.TrimSpace(getenv(EnvFrom)),
		StartTLS: strings.ToLower(strings.TrimSpace(getenv(EnvStartTLS))),
		Timeout:  DefaultTimeout,
	}
	if c.StartTLS == "" {
		c.StartTLS = StartTLSAuto
	}
	if p := strings.TrimSpace(getenv(EnvPort)); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			c.envErr = fmt.Sprintf("smtp config: %s=%q is not a port number (1-65535)", EnvPort, p)
		} else {
			c.Port = n
		}
	}
	return c
}

// maxPasswordFile bounds what PasswordFromFile reads.
const maxPasswordFile = 64 << 10

// PasswordFromFile reads a password from a file, typically a key of a Secret
// mounted as a volume. Trailing CR and LF are removed (files written by hand or
// with echo end with a newline); an empty password is an error.
func PasswordFromFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("smtp password file: %w", err)
	}
	defer func() { _ = f.Close() }()
	data, err := io.ReadAll(io.LimitReader(f, maxPasswordFile+1))
	if err != nil {
		return "", fmt.Errorf("smtp password file %s: %w", path, err)
	}
	if len(data) > maxPasswordFile {
		return "", fmt.Errorf("smtp password file %s: larger than %d bytes", path, maxPasswordFile)
	}
	password := strings.TrimRight(string(data), "\r\n")
	if password == "" {
		return "", fmt.Errorf("smtp password file %s is empty", path)
	}
	return password, nil
}

// parseAddress parses one address, refusing CR/LF and non-ASCII in the
// address itself (display names may be anything; they are encoded).
func parseAddress(s string) (*mail.Address, error) {
	if hasCRLF(s) {
		return nil, fmt.Errorf("address %q contains CR or LF", s)
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return nil, fmt.Errorf("address %q: %w", s, err)
	}
	for i := 0; i < len(a.Address); i++ {
		if a.Address[i] >= 0x80 {
			return nil, fmt.Errorf("address %q: non-ASCII addresses (SMTPUTF8) are not supported", s)
		}
	}
	return a, nil
}

func hasCRLF(s string) bool { return strings.ContainsAny(s, "\r\n") }

func isLocalhost(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}
