// Command gotemplate renders an ApplicationSet's Go templates as Argo CD's ApplicationSet
// controller does: text/template with Sprig's generic functions (less env, expandenv and
// getHostByName, which Argo CD removes) and Argo CD's own normalize, slugify, toYaml, fromYaml
// and fromYamlArray.
//
// It reads one JSON request on stdin, {"options": ["missingkey=error"], "jobs": [{"params":
// {...}, "templates": ["...", ...]}]}, and writes {"results": [{"values": ["...", ...]} or
// {"error": "..."}]}, one result per job in order. It reads no file and opens no connection.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig/v3"
	"github.com/gosimple/slug"
	"sigs.k8s.io/yaml"
)

type job struct {
	Params    map[string]any `json:"params"`
	Templates []string       `json:"templates"`
}

type request struct {
	Options []string `json:"options"`
	Jobs    []job    `json:"jobs"`
}

type result struct {
	Values []string `json:"values,omitempty"`
	Error  string   `json:"error,omitempty"`
}

func functions() template.FuncMap {
	funcs := sprig.GenericFuncMap()
	for _, name := range []string{"env", "expandenv", "getHostByName"} {
		delete(funcs, name)
	}
	funcs["normalize"] = normalize
	funcs["slugify"] = slugify
	funcs["toYaml"] = toYAML
	funcs["fromYaml"] = fromYAML
	funcs["fromYamlArray"] = fromYAMLArray
	return template.FuncMap(funcs)
}

var notInDNSName = regexp.MustCompile("[^-a-z0-9.]")

// normalize makes a DNS-1123 subdomain of a name: lower case, other characters as '-', at most
// 253 characters, no '-' or '.' at either end.
func normalize(name string) string {
	name = notInDNSName.ReplaceAllString(strings.ToLower(name), "-")
	if len(name) > 253 {
		name = name[:253]
	}
	return strings.Trim(name, "-.")
}

// slugify makes a slug of its last argument; before it, optionally the longest slug (default
// 50) and whether to cut at a word (default true).
func slugify(args ...any) string {
	maxSize, smart, name := 50, true, ""
	switch len(args) {
	case 1:
		name = fmt.Sprint(args[0])
	case 2:
		maxSize, _ = args[0].(int)
		name = fmt.Sprint(args[1])
	case 3:
		maxSize, _ = args[0].(int)
		smart, _ = args[1].(bool)
		name = fmt.Sprint(args[2])
	default:
		return ""
	}
	slug.MaxLength = 0
	made := slug.Make(name)
	if maxSize <= 0 || len(made) <= maxSize {
		return made
	}
	if !smart {
		return strings.Trim(made[:maxSize], "-")
	}
	cut := ""
	for _, word := range strings.Split(made, "-") {
		next := word
		if cut != "" {
			next = cut + "-" + word
		}
		if len(next) > maxSize {
			break
		}
		cut = next
	}
	return cut
}

func toYAML(value any) (string, error) {
	data, err := yaml.Marshal(value)
	if err != nil {
		return "", err
	}
	return strings.TrimSuffix(string(data), "\n"), nil
}

func fromYAML(text string) (map[string]any, error) {
	out := map[string]any{}
	err := yaml.Unmarshal([]byte(text), &out)
	return out, err
}

func fromYAMLArray(text string) ([]any, error) {
	var out []any
	err := yaml.Unmarshal([]byte(text), &out)
	return out, err
}

func render(options []string, funcs template.FuncMap, one job) result {
	values := make([]string, 0, len(one.Templates))
	for _, text := range one.Templates {
		parsed, err := template.New("").Option(options...).Funcs(funcs).Parse(text)
		if err != nil {
			return result{Error: fmt.Sprintf("%q: %v", text, err)}
		}
		var out bytes.Buffer
		if err := parsed.Execute(&out, one.Params); err != nil {
			return result{Error: fmt.Sprintf("%q: %v", text, err)}
		}
		values = append(values, out.String())
	}
	return result{Values: values}
}

func main() {
	var asked request
	if err := json.NewDecoder(os.Stdin).Decode(&asked); err != nil {
		fmt.Fprintf(os.Stderr, "gotemplate: cannot read the request: %v\n", err)
		os.Exit(2)
	}
	funcs := functions()
	results := make([]result, 0, len(asked.Jobs))
	for _, one := range asked.Jobs {
		results = append(results, render(asked.Options, funcs, one))
	}
	if err := json.NewEncoder(os.Stdout).Encode(map[string]any{"results": results}); err != nil {
		fmt.Fprintf(os.Stderr, "gotemplate: %v\n", err)
		os.Exit(2)
	}
}
