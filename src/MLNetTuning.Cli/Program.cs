using MLNetTuning.Cli;

// mlnet-tune: train, evaluate, predict, embed, export, serve. `train` with no arguments is the README's main job on the bundled spam sample.
return CliApp.Run(args, CliHost.FromProcess());
