using System.CommandLine;
using Vit.Cli;

// vit: the Vit.Compiler command line. Every command is in Commands/; this file wires them into
// System.CommandLine and turns errors into one line on stderr and a non-zero exit code:
// 2 for a command-line mistake, 1 for bad input (missing files, malformed data, wrong shapes).
// Under mpirun a rank's stdout is a pseudo-terminal that Open MPI forwards to mpirun's stdout,
// often a file or a pipe; .NET would write the terminal's keypad mode sequence (ESC[?1h ESC=)
// into it at the first console write. A dumb terminal has none (this must precede any Console use).
if (Vit.Training.MpiCommunicator.Launched) Environment.SetEnvironmentVariable("TERM", "dumb");
var root = new RootCommand("vit: compiled Vision Transformers for .NET. Train, evaluate, predict and benchmark the models Vit.Generator compiles.")
{
    InfoCommand.Create(),
    TrainCommand.Create(),
    EvalCommand.Create(),
    PredictCommand.Create(),
    ForwardCommand.Create(),
    BenchCommand.Create(),
    DevicesCommand.Create(),
    ConvertCommand.Create(),
    KernelsCommand.Create(),
};
Cli.ConfigureConsole();
var parse = root.Parse(args);
if (parse.Errors.Count > 0)
{
    // One line per mistake, the help hint on the last: a single bad value is a single line.
    for (int i = 0; i < parse.Errors.Count; i++)
        Console.Error.WriteLine("vit: " + parse.Errors[i].Message + (i == parse.Errors.Count - 1 ? " (see 'vit --help' or 'vit COMMAND --help')" : ""));
    return 2;
}
return parse.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
