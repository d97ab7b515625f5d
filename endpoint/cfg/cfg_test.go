package cfg

import (
	"archive/zip"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// specExample is the example of PROTOCOL.md §6.4, whose values were checked by
// running diraccfg on it.
const specExample = `# top comment
DIRAC
{
  Setup = Production   # not a comment
  Setups {
    Production {
      Framework = Production
    }
  }
  Configuration
  {
    Servers = dips://cs1.example.org:9135/Configuration/Server
    Servers += dips://cs2.example.org:9135/Configuration/Server
  }
  Eq = a=b=c
  Empty =
}
`

func TestSpecExample(t *testing.T) {
	c, err := Parse("dirac.cfg", []byte(specExample))
	require.NoError(t, err)
	get := func(p string) string {
		v, ok := c.Get(p)
		require.True(t, ok, p)
		return v
	}
	assert.Equal(t, "Production   # not a comment", get("/DIRAC/Setup"))
	assert.Equal(t, "dips://cs1.example.org:9135/Configuration/Server, dips://cs2.example.org:9135/Configuration/Server",
		get("/DIRAC/Configuration/Servers"))
	assert.Equal(t, "a=b=c", get("/DIRAC/Eq"))
	assert.Equal(t, "", get("DIRAC/Empty"))
	assert.Equal(t, "Production", get("//DIRAC//Setups/Production/Framework/"))
	l, ok := c.GetList("/DIRAC/Configuration/Servers")
	require.True(t, ok)
	assert.Equal(t, []string{"dips://cs1.example.org:9135/Configuration/Server", "dips://cs2.example.org:9135/Configuration/Server"}, l)
	l, ok = c.GetList("/DIRAC/Empty")
	assert.True(t, ok)
	assert.Empty(t, l)
	_, ok = c.GetList("/DIRAC/Missing")
	assert.False(t, ok)
	assert.Equal(t, " top comment", c.Comment("DIRAC"))
	assert.Equal(t, []string{"DIRAC"}, c.Sections())
	assert.Equal(t, []string{"Setup", "Eq", "Empty"}, c.Section("/DIRAC").Options())
	assert.Equal(t, []string{"Setups", "Configuration"}, c.Section("/DIRAC").Sections())
	_, ok = c.Get("/DIRAC/Setups")
	assert.False(t, ok, "a section is not an option")
	assert.Nil(t, c.Section("/DIRAC/Setup"), "an option is not a section")
}

func TestQuirks(t *testing.T) {
	for _, tc := range []struct {
		name, text, path, want string
	}{
		{"brace swallowed by option", "A {\nb = 1 }\n}\n", "/A/b", "1 }"},
		{"name on lines before brace", "Sec\ntion\n{\nx = 1\n}\n", "/Section/x", "1"},
		{"several opens on one line", "A { B {\nx = 1\n} }\n", "/A/B/x", "1"},
		{"last set wins", "x = 1\nx = 2\n", "/x", "2"},
		{"append", "x = 1\nx += 2, 3\nx+=4\n", "/x", "1, 2, 3, 4"},
		{"append keeps +=", "x = 1\nx += a+=b\n", "/x", "1, a+=b"},
		{"equals before plus-equals", "x = a+=b\n", "/x", "a+=b"},
		{"inline hash", "x = 1 # one\n", "/x", "1 # one"},
		{"hash in name", "a#b = 1\n", "/a#b", "1"},
		{"indented comment", "   # c\nx = 1\n", "/x", "1"},
		{"close then option", "A {\n}\nx = 1\n", "/x", "1"},
		{"blank and CRLF", "\r\n\r\nx = 1\r\n", "/x", "1"},
		{"stray text dropped", "junk\nx = 1\n", "/x", "1"},
		{"text before brace on option line", "A { b = 1\n}\n", "/A/A { b", "1"},
		{"empty value", "x =\n", "/x", ""},
		{"value spaces trimmed", "x =    v  \n", "/x", "v"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("t.cfg", []byte(tc.text))
			require.NoError(t, err)
			got, ok := c.Get(tc.path)
			require.True(t, ok, "%s missing in\n%s", tc.path, c)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestComments(t *testing.T) {
	c, err := Parse("t.cfg", []byte("# one\n## two #\nA\n{\n  # inner\n  x = 1\n  # dropped by +=\n  x += 2\n  y = 3\n}\n# trailing\n"))
	require.NoError(t, err)
	assert.Equal(t, " one\n two ", c.Comment("A"))
	a := c.Section("A")
	assert.Equal(t, " inner", a.Comment("x"))
	assert.Equal(t, "", a.Comment("y"))
	assert.Equal(t, "# one\n# two \nA\n{\n  # inner\n  x = 1\n  x += 2\n  y = 3\n}\n", c.String())
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		line       int
		reason     string
	}{
		{"one-line section", "A { b = 1 }\n", 1, `section "A" is never closed`},
		{"unclosed", "x = 1\nA\n{\nB {\n}\n", 3, `section "A" is never closed`},
		{"too many closes", "A {\n}\n}\n", 3, "closes no open section"},
		{"append undeclared", "A {\nx = 1\n}\nx += 2\n", 4, `+= on option "x", which has not been declared`},
		{"append to section", "A {\n}\nA += 1\n", 3, "is a section"},
		{"duplicate section", "A {\n}\n\nA {\n}\n", 4, `"A" is declared twice`},
		{"option named like section", "A {\n}\nA = 1\n", 3, "name of a section"},
		{"section named like option", "A = 1\nA {\n}\n", 2, "declared twice"},
		{"empty section name", "{\n}\n", 1, "section without a name"},
		{"empty option name", " = 1\n", 1, "option without a name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("bad.cfg", []byte(tc.text))
			var pe *ParseError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, "bad.cfg", pe.File)
			assert.Equal(t, tc.line, pe.Line)
			assert.Contains(t, pe.Reason, tc.reason)
			assert.Contains(t, err.Error(), "bad.cfg:")
		})
	}
}

func TestSerializeRoundTrip(t *testing.T) {
	c, err := Parse("t.cfg", []byte(specExample))
	require.NoError(t, err)
	text := c.String()
	assert.Contains(t, text, "DIRAC\n{\n  Setup = Production   # not a comment\n")
	assert.Contains(t, text, "  Configuration\n  {\n    Servers = dips://cs1.example.org:9135/Configuration/Server\n    Servers += dips://cs2.example.org:9135/Configuration/Server\n  }\n")
	assert.Contains(t, text, "  Empty = \n")
	c2, err := Parse("again", []byte(text))
	require.NoError(t, err)
	assert.Equal(t, text, c2.String())
	var buf bytes.Buffer
	n, err := c2.WriteTo(&buf)
	require.NoError(t, err)
	assert.Equal(t, int64(len(text)), n)
	assert.Equal(t, text, buf.String())

	// A value with empty list items is normalised on the way out, as in DIRAC.
	c3 := MustParse("x = a,, b ,\n")
	assert.Equal(t, "x = a\nx += b\n", c3.String())
}

func TestMerge(t *testing.T) {
	base := MustParse(`
DIRAC
{
  Setup = Dev
  VirtualOrganization = vo1
  Configuration
  {
    Servers = dips://a:9135/Configuration/Server
    Version = 1
  }
}
Systems
{
  X = 1
}
`)
	over := MustParse(`
# mine
DIRAC
{
  Configuration
  {
    Version = 2
    Name = new
  }
  Setup = Prod
  Extra = e
}
Systems = now an option
Added
{
  y = 1
}
`)
	orig := over.String()
	base.Merge(over)
	assert.Equal(t, orig, over.String(), "Merge leaves its argument alone")
	assert.Equal(t, "Prod", base.GetDefault("/DIRAC/Setup", ""))
	assert.Equal(t, "vo1", base.GetDefault("/DIRAC/VirtualOrganization", ""))
	assert.Equal(t, "2", base.GetDefault("/DIRAC/Configuration/Version", ""))
	assert.Equal(t, "dips://a:9135/Configuration/Server", base.GetDefault("/DIRAC/Configuration/Servers", ""))
	assert.Equal(t, "new", base.GetDefault("/DIRAC/Configuration/Name", ""))
	assert.Equal(t, "now an option", base.GetDefault("/Systems", ""))
	assert.Equal(t, "1", base.GetDefault("/Added/y", ""))
	assert.Equal(t, " mine", base.Comment("DIRAC"))
	assert.Equal(t, []string{"Setup", "VirtualOrganization", "Extra"}, base.Section("DIRAC").Options())
	assert.Equal(t, []string{"DIRAC", "Added"}, base.Sections())

	// Merging into a clone leaves the original unchanged.
	c := over.Clone()
	c.Merge(MustParse("Added\n{\ny = 2\n}\n"))
	assert.Equal(t, "2", c.GetDefault("/Added/y", ""))
	assert.Equal(t, "1", over.GetDefault("/Added/y", ""))
}

func TestSetDelete(t *testing.T) {
	c := New()
	require.NoError(t, c.Set("/DIRAC/Setup", "Prod"))
	require.NoError(t, c.Set("/DIRAC/Setups/Prod/WM", "Inst"))
	require.NoError(t, c.Set("/DIRAC/Setup", "Dev"))
	assert.Error(t, c.Set("/DIRAC/Setup/Sub", "x"))
	assert.Error(t, c.Set("/DIRAC/Setups", "x"))
	assert.Error(t, c.Set("/", "x"))
	assert.Equal(t, "DIRAC\n{\n  Setup = Dev\n  Setups\n  {\n    Prod\n    {\n      WM = Inst\n    }\n  }\n}\n", c.String())
	s, err := c.CreateSection("/A/B")
	require.NoError(t, err)
	require.NoError(t, s.Set("k", "v"))
	assert.Equal(t, "v", c.GetDefault("/A/B/k", ""))
	assert.True(t, c.Has("/A/B"))
	assert.True(t, c.Delete("/DIRAC/Setup"))
	assert.False(t, c.Delete("/DIRAC/Setup"))
	assert.Equal(t, []string{"Setups"}, c.Section("DIRAC").Sections())
	require.NoError(t, c.Set("/DIRAC/Setup", "again"))
	assert.Equal(t, "again", c.GetDefault("/DIRAC/Setup", ""))
	assert.Same(t, c, c.Section("/"))
}

func TestGetBool(t *testing.T) {
	c := MustParse("a = Yes\nb = 1\nc = no\nd = TRUE\ne = on\n")
	for p, want := range map[string]bool{"a": true, "b": true, "c": false, "d": true, "e": false} {
		b, ok := c.GetBool(p)
		assert.True(t, ok)
		assert.Equal(t, want, b, p)
	}
	_, ok := c.GetBool("zz")
	assert.False(t, ok)
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(text), 0o644))
		return p
	}
	write("root/etc/dirac.cfg", "A\n{\nroot = 1\nwho = root\nsys = root\n}\n")
	s1 := write("sys1.cfg", "A\n{\nsys = sys1\nwho = sys1\n}\n")
	s2 := write("sys2.cfg", "A\n{\nsys = sys2\ns2 = yes\nwho = sys2\n}\n")
	write("home/.dirac.cfg", "A\n{\nwho = home\nhome = 1\n}\n")
	extra1 := write("extra1.cfg", "A\n{\nextra = 1\n}\n")
	extra2 := write("extra2.cfg", "A\n{\nextra = 2\n}\n")
	env := map[string]string{"DIRAC_ROOT_PATH": filepath.Join(dir, "root"), "DIRACSYSCONFIG": s1 + ", " + s2}

	c, read, err := Load(LoadOptions{Home: filepath.Join(dir, "home"), Files: []string{extra1, extra2},
		Getenv: func(k string) string { return env[k] }})
	require.NoError(t, err)
	assert.Equal(t, []string{filepath.Join(dir, "root/etc/dirac.cfg"), s2, s1, filepath.Join(dir, "home/.dirac.cfg"), extra1, extra2}, read)
	for p, want := range map[string]string{
		"/A/root": "1", "/A/sys": "sys1", "/A/s2": "yes", "/A/who": "home", "/A/home": "1", "/A/extra": "2",
	} {
		assert.Equal(t, want, c.GetDefault(p, "<none>"), p)
	}

	// Missing optional files are skipped, missing named files are errors.
	c, read, err = Load(LoadOptions{DIRACRoot: filepath.Join(dir, "nowhere"), Home: dir, Getenv: func(string) string { return "" }})
	require.NoError(t, err)
	assert.Empty(t, read)
	assert.Empty(t, c.Sections())
	_, _, err = Load(LoadOptions{NoHome: true, Files: []string{filepath.Join(dir, "missing.cfg")}, Getenv: func(string) string { return "" }})
	assert.ErrorIs(t, err, os.ErrNotExist)
	// As in DIRAC, a file of DIRACSYSCONFIG that does not exist is skipped.
	env["DIRACSYSCONFIG"] = filepath.Join(dir, "missing.cfg") + "," + s2
	c, read, err = Load(LoadOptions{NoHome: true, Getenv: func(k string) string { return env[k] }})
	require.NoError(t, err)
	assert.Equal(t, []string{filepath.Join(dir, "root/etc/dirac.cfg"), s2}, read)
	assert.Equal(t, "sys2", c.GetDefault("/A/sys", ""))

	// Parse errors name the file.
	bad := write("bad.cfg", "A {\n")
	_, err = LoadFiles(extra1, bad)
	var pe *ParseError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, bad, pe.File)

	c, err = LoadFiles(extra1, extra2)
	require.NoError(t, err)
	assert.Equal(t, "2", c.GetDefault("/A/extra", ""))
}

func TestParseZip(t *testing.T) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.Create("dirac.cfg")
	require.NoError(t, err)
	_, err = w.Write([]byte(specExample))
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	p := filepath.Join(t.TempDir(), "cs.zip")
	require.NoError(t, os.WriteFile(p, buf.Bytes(), 0o644))
	c, err := ParseFile(p)
	require.NoError(t, err)
	assert.Equal(t, "a=b=c", c.GetDefault("/DIRAC/Eq", ""))
}

func TestMustParsePanics(t *testing.T) {
	assert.Panics(t, func() { MustParse("}") })
}

func TestLargeSection(t *testing.T) {
	c := New()
	for i := range 20 {
		require.NoError(t, c.Set(fmt.Sprintf("/S/o%d", i), fmt.Sprint(i)))
	}
	assert.True(t, c.Delete("/S/o5"))
	assert.False(t, c.Has("/S/o5"))
	for i := range 20 {
		v, ok := c.Get(fmt.Sprintf("S/o%d", i))
		assert.Equal(t, i != 5, ok, i)
		if ok {
			assert.Equal(t, fmt.Sprint(i), v)
		}
	}
	require.NoError(t, c.Set("/S/o5", "again"))
	assert.Equal(t, "again", c.GetDefault("/S/o5", ""))
	assert.Equal(t, "o5", c.Section("S").Options()[19])
	cl := c.Clone()
	assert.True(t, cl.Delete("/S/o0"))
	assert.True(t, c.Has("/S/o0"))
	assert.Equal(t, "19", cl.GetDefault("/S/o19", ""))
	_, ok := c.Get("/S/o1/x")
	assert.False(t, ok)
	_, ok = c.Get("")
	assert.False(t, ok)
}
