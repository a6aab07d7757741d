using System;
using System.Globalization;
using System.Text;

namespace Vit.Generator;

/// <summary>A small indented text writer for generated C#. Newlines are always <c>\n</c>.</summary>
internal sealed class SourceWriter
{
    private readonly StringBuilder _text = new();
    private int _indent;

    public void Line(string line = "")
    {
        if (line.Length > 0) _text.Append(' ', _indent * 4).Append(line);
        _text.Append('\n');
    }

    public void Open(string line)
    {
        Line(line);
        Line("{");
        _indent++;
    }

    public void Close(string suffix = "")
    {
        _indent--;
        Line("}" + suffix);
    }

    /// <summary>Writes each line of <paramref name="text"/> as a <c>//</c> comment.</summary>
    public void Comment(string text)
    {
        foreach (var line in text.Split('\n')) Line(line.Length == 0 ? "//" : "// " + line);
    }

    public override string ToString() => _text.ToString();

    /// <summary>An invariant-culture number.</summary>
    public static string N(long value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>An invariant-culture float literal that round-trips, for example <c>1E-06f</c>.</summary>
    public static string F(double value) => ((float)value).ToString("R", CultureInfo.InvariantCulture) + "f";

    /// <summary>A double literal that round-trips.</summary>
    public static string Real(double value)
    {
        var s = value.ToString("R", CultureInfo.InvariantCulture);
        return s.IndexOfAny(new[] { '.', 'E', 'e' }) >= 0 ? s : s + ".0";
    }

    /// <summary>A string literal.</summary>
    public static string S(string value) => "\"" + value.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"";

    /// <summary>Thousands-separated number for comments, for example 86,567,656.</summary>
    public static string Grouped(long value) => value.ToString("N0", CultureInfo.InvariantCulture);
}
