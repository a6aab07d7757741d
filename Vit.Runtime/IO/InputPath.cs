namespace Vit.IO;

/// <summary>
/// Checks of paths given as inputs, so that a folder given for a file (or a file for a folder)
/// is reported as such, not as missing.
/// </summary>
public static class InputPath
{
    /// <summary>Throws unless <paramref name="path"/> is an existing file.</summary>
    /// <param name="path">The path given.</param>
    /// <param name="what">What was expected, for the message: <c>image file</c>, <c>weights file</c>.</param>
    /// <param name="missing">The message for a path that does not exist.</param>
    /// <exception cref="IOException">The path is a folder.</exception>
    /// <exception cref="FileNotFoundException">Nothing is at the path.</exception>
    public static void RequireFile(string path, string what, string missing)
    {
        if (Directory.Exists(path)) throw new IOException($"{path}: expected {Article(what)} {what}, found a folder");
        if (!File.Exists(path)) throw new FileNotFoundException(missing, path);
    }

    /// <summary>Throws unless <paramref name="path"/> is an existing folder.</summary>
    /// <param name="path">The path given.</param>
    /// <param name="what">What the folder should hold, for the message: <c>CIFAR files</c>.</param>
    /// <param name="missing">The message for a path that does not exist.</param>
    /// <exception cref="IOException">The path is a file.</exception>
    /// <exception cref="DirectoryNotFoundException">Nothing is at the path.</exception>
    public static void RequireFolder(string path, string what, string missing)
    {
        if (File.Exists(path)) throw new IOException($"{path}: expected a folder of {what}, found a file");
        if (!Directory.Exists(path)) throw new DirectoryNotFoundException(missing);
    }

    private static string Article(string word) => "aeiou".Contains(char.ToLowerInvariant(word[0])) ? "an" : "a";
}
