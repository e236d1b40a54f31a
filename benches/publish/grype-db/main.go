// grype-db-osv builds a grype vulnerability database (schema v6) offline from GitHub
// advisories in OSV format (tests/fixtures/osv), for scripts/bench-publish: grype cannot
// download its database on these machines.
//
// Usage: grype-db-osv OSV_DIR OUT_DIR
//
// It goes through grype's own database build (github.com/anchore/grype/grype/db, the
// code `grype-db` uses): each PyPI and npm advisory is written as a vunnel "github"
// provider result (GitHub's advisory shape: FixedIn entries with a range per affected
// range), then db.Build runs the GHSA processor and transformer and writes
// OUT_DIR/vulnerability.db and OUT_DIR/import.json, which grype reads from
// $GRYPE_DB_CACHE_DIR/6/.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/anchore/grype/grype/db"
	"github.com/anchore/grype/grype/db/provider"
)

type osvRecord struct {
	ID        string   `json:"id"`
	Summary   string   `json:"summary"`
	Aliases   []string `json:"aliases"`
	Modified  string   `json:"modified"`
	Published string   `json:"published"`
	Withdrawn string   `json:"withdrawn"`
	Affected  []struct {
		Package struct {
			Ecosystem string `json:"ecosystem"`
			Name      string `json:"name"`
		} `json:"package"`
		Ranges []struct {
			Type   string              `json:"type"`
			Events []map[string]string `json:"events"`
		} `json:"ranges"`
	} `json:"affected"`
	References []struct {
		URL string `json:"url"`
	} `json:"references"`
	DatabaseSpecific struct {
		Severity string `json:"severity"`
	} `json:"database_specific"`
}

type fixedIn struct {
	Ecosystem  string `json:"ecosystem"`
	Identifier string `json:"identifier"`
	Name       string `json:"name"`
	Namespace  string `json:"namespace"`
	Range      string `json:"range"`
}

// GitHub's ecosystem names as vunnel's github provider writes them.
var ecosystems = map[string]string{"PyPI": "python", "npm": "npm"}

// severity: OSV's database_specific.severity (GitHub's) -> vunnel's spelling.
func severity(s string) string {
	switch strings.ToUpper(s) {
	case "LOW":
		return "Low"
	case "MODERATE", "MEDIUM":
		return "Medium"
	case "HIGH":
		return "High"
	case "CRITICAL":
		return "Critical"
	}
	return "Unknown"
}

// ranges: OSV ECOSYSTEM events -> GitHub range strings (">= 1.0 < 1.2.2") and fixes.
func ranges(events []map[string]string) (out []fixedIn) {
	introduced := ""
	for _, ev := range events {
		if v, ok := ev["introduced"]; ok {
			introduced = v
			continue
		}
		var parts []string
		if introduced != "" && introduced != "0" {
			parts = append(parts, ">= "+introduced)
		}
		fix := ""
		if v, ok := ev["fixed"]; ok {
			parts = append(parts, "< "+v)
			fix = v
		} else if v, ok := ev["last_affected"]; ok {
			parts = append(parts, "<= "+v)
		} else {
			continue
		}
		out = append(out, fixedIn{Identifier: fix, Range: strings.Join(parts, " ")})
		introduced = ""
	}
	if introduced != "" {
		r := ">= " + introduced
		if introduced == "0" {
			r = ">= 0"
		}
		out = append(out, fixedIn{Range: r})
	}
	return out
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: grype-db-osv OSV_DIR OUT_DIR")
		os.Exit(2)
	}
	osvDir, outDir := os.Args[1], os.Args[2]
	if err := run(osvDir, outDir); err != nil {
		fmt.Fprintln(os.Stderr, "grype-db-osv:", err)
		os.Exit(1)
	}
}

func run(osvDir, outDir string) error {
	work, err := os.MkdirTemp("", "grype-db-osv-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	ws := provider.NewWorkspaceWriter(work, "github")
	names, err := filepath.Glob(filepath.Join(osvDir, "*.json"))
	if err != nil {
		return err
	}
	sort.Strings(names)
	var files []provider.File
	for _, name := range names {
		raw, err := os.ReadFile(name)
		if err != nil {
			return err
		}
		var rec osvRecord
		if err := json.Unmarshal(raw, &rec); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if !strings.HasPrefix(rec.ID, "GHSA-") {
			continue
		}
		var fixes []fixedIn
		for _, a := range rec.Affected {
			eco, ok := ecosystems[a.Package.Ecosystem]
			if !ok {
				continue
			}
			for _, r := range a.Ranges {
				if r.Type != "ECOSYSTEM" {
					continue
				}
				for _, f := range ranges(r.Events) {
					f.Ecosystem, f.Name, f.Namespace = eco, a.Package.Name, "github:"+eco
					fixes = append(fixes, f)
				}
			}
		}
		if len(fixes) == 0 {
			continue
		}
		var cves []string
		for _, a := range rec.Aliases {
			if strings.HasPrefix(a, "CVE-") {
				cves = append(cves, a)
			}
		}
		var refs []map[string]string
		for _, r := range rec.References {
			refs = append(refs, map[string]string{"url": r.URL})
		}
		advisory := map[string]any{
			"Classification": "GENERAL",
			"CVE":            cves,
			"FixedIn":        fixes,
			"Metadata":       map[string]any{"CVE": cves},
			"Severity":       severity(rec.DatabaseSpecific.Severity),
			"Summary":        rec.Summary,
			"ghsaId":         rec.ID,
			"namespace":      "github:" + fixes[0].Ecosystem,
			"url":            "https://github.com/advisories/" + rec.ID,
			"published":      rec.Published,
			"updated":        rec.Modified,
			"references":     refs,
		}
		if rec.Withdrawn != "" {
			advisory["withdrawn"] = rec.Withdrawn
		}
		envelope, err := json.Marshal(map[string]any{
			"schema":     "https://raw.githubusercontent.com/anchore/vunnel/main/schema/vulnerability/github-security-advisory/schema-1.0.1.json",
			"identifier": fixes[0].Namespace + "/" + rec.ID,
			"item":       map[string]any{"Advisory": advisory, "Vulnerability": map[string]any{}},
		})
		if err != nil {
			return err
		}
		f, err := ws.WriteResult(rec.ID+".json", envelope)
		if err != nil {
			return err
		}
		files = append(files, *f)
	}
	if len(files) == 0 {
		return fmt.Errorf("no GHSA records for PyPI or npm in %s", osvDir)
	}
	if err := ws.WriteListing(files); err != nil {
		return err
	}
	now := time.Now().UTC()
	listing, err := provider.NewFile(ws.ListingPath())
	if err != nil {
		return err
	}
	listing.Path = "results/listing.xxh64"
	if err := ws.WriteState(provider.State{
		Provider: "github", Version: 2, DistributionVersion: 1, Processor: "lading bench-publish",
		Schema: provider.Schema{Version: "1.0.3",
			URL: "https://raw.githubusercontent.com/anchore/vunnel/main/schema/provider-workspace-state/schema-1.0.3.json"},
		URLs: []string{"https://github.com/advisories"}, Timestamp: now, Listing: listing,
		Store: "flat-file",
	}); err != nil {
		return err
	}
	state, err := provider.ReadState(filepath.Join(ws.Path(), "metadata.json"))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	err = db.Build(db.BuildConfig{
		SchemaVersion: 6, Directory: outDir, States: provider.States{*state}, Timestamp: now,
		IncludeCPEParts: []string{"a"}, Hydrate: true, BatchSize: 100,
	})
	if err != nil {
		return err
	}
	fmt.Printf("grype-db-osv: %d advisories -> %s\n", len(files), outDir)
	return nil
}
