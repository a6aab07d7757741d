using System.Collections.Frozen;

namespace Vit;

/// <summary>Finds a model's parameters by timm name.</summary>
public sealed class ParameterTable
{
    private readonly FrozenDictionary<string, ParameterInfo> _byName;

    /// <summary>Indexes <paramref name="parameters"/> of the model <paramref name="modelName"/>.</summary>
    public ParameterTable(string modelName, IReadOnlyList<ParameterInfo> parameters)
    {
        ModelName = modelName;
        Parameters = parameters;
        var map = new Dictionary<string, ParameterInfo>(StringComparer.Ordinal);
        foreach (var p in parameters)
        {
            if (!map.TryAdd(p.Name, p))
                throw new ArgumentException($"The parameter name '{p.Name}' appears twice in {modelName}.", nameof(parameters));
        }
        _byName = map.ToFrozenDictionary(StringComparer.Ordinal);
    }

    /// <summary>The model's type name, used in messages.</summary>
    public string ModelName { get; }

    /// <summary>Every parameter, in timm <c>state_dict</c> order.</summary>
    public IReadOnlyList<ParameterInfo> Parameters { get; }

    /// <summary>The parameter called <paramref name="timmName"/>.</summary>
    /// <exception cref="KeyNotFoundException">No parameter has that name; the message names it and suggests the closest.</exception>
    public ParameterInfo Find(string timmName)
    {
        ArgumentNullException.ThrowIfNull(timmName);
        if (_byName.TryGetValue(timmName, out var info)) return info;
        throw new KeyNotFoundException(
            $"'{timmName}' is not a parameter of {ModelName}. Did you mean '{Closest(timmName)}'? " +
            $"{ModelName} has {Parameters.Count} parameters, from '{Parameters[0].Name}' to '{Parameters[^1].Name}' (timm names).");
    }

    /// <summary>True and the parameter when <paramref name="timmName"/> exists.</summary>
    public bool TryFind(string timmName, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out ParameterInfo? info) =>
        _byName.TryGetValue(timmName, out info);

    private string Closest(string name)
    {
        string best = Parameters[0].Name;
        int bestDistance = int.MaxValue;
        foreach (var p in Parameters)
        {
            int d = EditDistance(name, p.Name);
            if (d < bestDistance) { bestDistance = d; best = p.Name; }
        }
        return best;
    }

    private static int EditDistance(string a, string b)
    {
        Span<int> previous = stackalloc int[b.Length + 1], current = stackalloc int[b.Length + 1];
        for (int j = 0; j <= b.Length; j++) previous[j] = j;
        for (int i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (int j = 1; j <= b.Length; j++)
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            current.CopyTo(previous);
        }
        return previous[b.Length];
    }
}
