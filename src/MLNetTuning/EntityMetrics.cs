using System.Collections.ObjectModel;

namespace MLNetTuning;

/// <summary>
/// Entity-level metrics of a token-classification (NER) model, as <c>ml.MulticlassClassification.EvaluateEntities(...)</c>
/// returns them. An entity (chunk) counts as found only when its type, first word and last word all match; the chunks are
/// read from IOB2 tags as seqeval's default mode and the CoNLL <c>conlleval</c> script read them.
/// </summary>
public sealed class EntityMetrics
{
    internal EntityMetrics(double precision, double recall, double f1, double tokenAccuracy, IDictionary<string, EntityTypeMetrics> perEntityType)
    {
        Precision = precision;
        Recall = recall;
        F1 = f1;
        TokenAccuracy = tokenAccuracy;
        PerEntityType = new ReadOnlyDictionary<string, EntityTypeMetrics>(perEntityType);
    }

    /// <summary>Correct predicted entities over all predicted entities, over every type together (micro average); 0 when nothing was predicted.</summary>
    public double Precision { get; }

    /// <summary>Correct predicted entities over all labelled entities, over every type together (micro average); 0 when the labels hold no entity.</summary>
    public double Recall { get; }

    /// <summary>The harmonic mean of <see cref="Precision"/> and <see cref="Recall"/>; 0 when both are 0.</summary>
    public double F1 { get; }

    /// <summary>The fraction of words whose predicted tag equals the label's tag (<c>O</c> included); 0 when there are no words.</summary>
    public double TokenAccuracy { get; }

    /// <summary>
    /// The metrics of each entity type (<c>PER</c> for the tags <c>B-PER</c> and <c>I-PER</c>), in ordinal order of the type
    /// name. A type is listed when it occurs in the labels or in the predictions, so a type that was only predicted has a
    /// support of 0.
    /// </summary>
    public IReadOnlyDictionary<string, EntityTypeMetrics> PerEntityType { get; }
}
