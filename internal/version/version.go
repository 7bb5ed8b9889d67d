// Package version holds herald's version, set at build time with
// -ldflags "-X github.com/herald-operator/herald/internal/version.Version=v1.2.3".
package version

// Version is herald's release version.
var Version = "dev"

// UserAgent is the User-Agent header of every call herald makes.
func UserAgent() string {
	return "herald/" + Version + " (+https://github.com/herald-operator/herald)"
}
