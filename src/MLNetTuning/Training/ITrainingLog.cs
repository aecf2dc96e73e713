namespace MLNetTuning.Training;

/// <summary>Where training reports: the ML.NET surface forwards it to MLContext.Log, tests to a list.</summary>
internal interface ITrainingLog
{
    /// <summary>Milestones: epochs, evaluations, the restored best model.</summary>
    void Info(string message);

    /// <summary>Every step.</summary>
    void Trace(string message);

    /// <summary>Something the user should change.</summary>
    void Warning(string message);
}
