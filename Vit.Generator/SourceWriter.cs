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

    /// <summary>The width generated lines are kept to, where they can be broken (about 140 characters).</summary>
    public const int Width = 140;

    /// <summary>Writes each line of <paramref name="text"/> as a <c>//</c> comment, wrapped at word boundaries to <see cref="Width"/>.</summary>
    public void Comment(string text)
    {
        foreach (var line in text.Split('\n'))
        {
            if (line.Length == 0) { Line("//"); continue; }
            var current = new StringBuilder("//");
            foreach (var word in line.Split(' '))
            {
                if (current.Length > 2 && _indent * 4 + current.Length + 1 + word.Length > Width)
                {
                    Line(current.ToString());
                    current.Clear().Append("//  ");
                }
                current.Append(' ').Append(word);
            }
            Line(current.ToString());
        }
    }

    /// <summary>
    /// Writes a call, breaking its argument list after top-level commas into continuation lines
    /// (indented one level) when it is wider than <see cref="Width"/>.
    /// </summary>
    public void Call(string call)
    {
        int open = call.IndexOf('(');
        if (_indent * 4 + call.Length <= Width || open < 0 || !call.EndsWith(");", StringComparison.Ordinal))
        {
            Line(call);
            return;
        }
        var arguments = new System.Collections.Generic.List<string>();
        int depth = 0, start = open + 1;
        for (int i = open + 1; i < call.Length - 2; i++)
        {
            char c = call[i];
            if (c == '(' || c == '<') depth++;
            else if (c == ')' || c == '>') depth--;
            else if (c == ',' && depth == 0)
            {
                arguments.Add(call.Substring(start, i - start).Trim());
                start = i + 1;
            }
        }
        arguments.Add(call.Substring(start, call.Length - 2 - start).Trim());
        Line(call.Substring(0, open + 1));
        _indent++;
        var current = new StringBuilder();
        for (int i = 0; i < arguments.Count; i++)
        {
            string piece = arguments[i] + (i < arguments.Count - 1 ? "," : ");");
            if (current.Length > 0 && _indent * 4 + current.Length + 1 + piece.Length > Width)
            {
                Line(current.ToString());
                current.Clear();
            }
            if (current.Length > 0) current.Append(' ');
            current.Append(piece);
        }
        Line(current.ToString());
        _indent--;
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
