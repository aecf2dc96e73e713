using Microsoft.ML.Runtime;
using MLNetTuning.Training;

namespace MLNetTuning.MlNet;

/// <summary>Training's log written to an ML.NET channel, so that it shows in MLContext.Log.</summary>
internal sealed class ChannelTrainingLog(IChannel channel) : ITrainingLog
{
    public void Info(string message) => channel.Info(MessageSensitivity.None, message);
    public void Trace(string message) => channel.Trace(MessageSensitivity.None, message);
    public void Warning(string message) => channel.Warning(MessageSensitivity.None, message);
}
